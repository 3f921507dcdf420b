"""Latency of the dashboard's fleet queries at fleet scale: GET /api/v1/fleet's overview (every
host's status, latest headline values and 10 minutes of sparkline) and the summary report, on
SQLite or PostgreSQL, after writing the fleet through the real StoreWriter.

    .venv/bin/python bench/bench_fleet_overview.py [--hosts 1000] [--minutes 60]
        [--database-url URL]

Each host sends a snapshot every 10 s with the 234 series of a real one (bench/data/
vm-snapshot-pair.json, process groups left out), CPU and memory moved per snapshot. Prints the
median of 5 runs of each query, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from fleetscope.query.fleet import FleetQueries
from fleetscope.store import auth
from fleetscope.store.engine import make_engine, migrate, sqlite_url
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

        def median_ms(run: object) -> float:
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                run()  # type: ignore[operator]
                times.append((time.perf_counter() - t0) * 1000)
            return statistics.median(times)

        fleet = FleetQueries(engine)
        overview = median_ms(lambda: fleet.overview(1, now_ms))
        print(f"overview (status, latest, 10 min sparklines): {overview:.0f} ms")
        summary = median_ms(lambda: fleet.summary(1, start_ms, now_ms, now_ms))
        print(f"summary over {args.minutes} min of raw frames: {summary:.0f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
