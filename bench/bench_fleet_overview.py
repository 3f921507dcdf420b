"""Latency of the dashboard's fleet queries at fleet scale: GET /api/v1/fleet's overview (every
host's status, latest headline values and 10 minutes of sparkline) and the summary report, on
SQLite or PostgreSQL, after writing the fleet through the real StoreWriter.

    .venv/bin/python bench/bench_fleet_overview.py [--hosts 1000] [--minutes 60]
        [--database-url URL]

Each host sends a snapshot every 10 s with the 234 series of a real one (bench/data/
vm-snapshot-pair.json, process groups left out), CPU and memory moved per snapshot; the rollup
step then runs as digest would have run it (settled minutes and hours).

FleetQueries caches what it decoded (query/fleet.py), so each query is measured twice:
* cold: a new FleetQueries (the first request after a server start);
* warm: as a dashboard left open sees it, each run after one more snapshot of every host has
  been written (the fleet's next 10 s), 7 runs.
Wall time and this process's CPU time (on SQLite the database works in this process; on
PostgreSQL its server's CPU is not in it), milliseconds, with the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetscope.query.fleet import FleetQueries
from fleetscope.store import auth
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.writer import BatchRows, FrameRow, StoreWriter

DATA = Path(__file__).with_name("data") / "vm-snapshot-pair.json"
INTERVAL_MS = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    rows = [
        r for r in json.loads(DATA.read_text())["series"] if not r[0].startswith("process_group_")
    ]
    keys = tuple(r[0] for r in rows)
    base = [r[2] for r in rows]
    cpu_at = keys.index("cpu_utilization_percent")
    used_at = keys.index("memory_used_bytes")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.database_url or sqlite_url(Path(tmp)))
        migrate(engine)
        auth.bootstrap(engine, Path(tmp), "bench")  # tenant 1
        writer = StoreWriter(engine)
        rng = random.Random(1)
        now_ms = int(time.time() * 1000)
        snapshots = args.minutes * 6
        start_ms = now_ms - snapshots * INTERVAL_MS
        started = time.perf_counter()
        for first in range(0, snapshots, 6):  # a minute of the whole fleet per transaction
            batches = []
            for host in range(args.hosts):
                frames = []
                for i in range(first, min(first + 6, snapshots)):
                    values = list(base)
                    values[cpu_at] = rng.uniform(0, 100)
                    values[used_at] = (base[used_at] or 1e9) * rng.uniform(0.5, 1.5)
                    frames.append(FrameRow(start_ms + i * INTERVAL_MS, keys, tuple(values)))
                batches.append(
                    BatchRows(
                        1,
                        f"m-{host}",
                        f"host-{host:04}",
                        "bench",
                        f"b-{host}-{first}",
                        tuple(frames),
                    )
                )
            writer.write_batches(batches)
        print(
            f"wrote {args.hosts} hosts x {snapshots} snapshots x {len(keys)} series "
            f"in {time.perf_counter() - started:.1f} s ({engine.dialect.name})"
        )

        rolled = StoreMaintenance(engine, writer.partitions).rollups.run()
        print(f"rolled up {rolled.buckets} buckets (1m and 1h) as digest would have")
        step = [snapshots]

        def next_snapshot() -> None:
            """One more snapshot of every host, 10 s after the last."""
            ts = start_ms + step[0] * INTERVAL_MS
            step[0] += 1
            writer.write_batches(
                [
                    BatchRows(
                        1,
                        f"m-{host}",
                        f"host-{host:04}",
                        "bench",
                        f"n-{host}-{ts}",
                        (FrameRow(ts, keys, tuple(base)),),
                    )
                    for host in range(args.hosts)
                ]
            )

        def timed(run: Callable[[], Any]) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000

        def report(name: str, query: Callable[[FleetQueries], Any]) -> None:
            cold = timed(lambda: query(FleetQueries(engine)))
            fleet = FleetQueries(engine)
            query(fleet)
            warm = []
            for _ in range(7):
                next_snapshot()
                warm.append(timed(lambda: query(fleet)))
            walls = sorted(w for w, _ in warm)
            print(
                f"{name}: cold {cold[0]:.0f} ms (cpu {cold[1]:.0f}); warm median "
                f"{statistics.median(walls):.0f} ms (min {walls[0]:.0f}, max {walls[-1]:.0f}; "
                f"cpu median {statistics.median(c for _, c in warm):.0f}); "
                f"load {os.getloadavg()[0]:.2f}"
            )

        def now() -> int:
            return start_ms + step[0] * INTERVAL_MS

        report("overview (status, latest, 10 min sparklines)", lambda f: f.overview(1, now()))
        report(
            f"summary over {args.minutes} min (1h, 1m tiers + raw tail)",
            lambda f: f.summary(1, now() - args.minutes * 60_000, now(), now()),
        )
        engine.dispose()


if __name__ == "__main__":
    main()
