"""StoreWriter.write_batches per payload, and the rollup step per payload at steady state, on
SQLite and PostgreSQL, with rows built from the fleet simulator's realistic payloads.

    .venv/bin/python bench/bench_digest_write.py [--hosts 128] [--rounds 30] [--batch 128]
        [--databases sqlite,postgresql] [--postgres-url URL] [--snapshot FILE]

Payloads are bench/fleet_simulator.py's (a real `fleetscope collect --once` snapshot: ~180
metric values, 20 process groups, per-host identity and varied gauges), one snapshot each,
--hosts hosts every 10 s for --rounds rounds, with timestamps a day in the past. They go
through digest's transform (digest/transform.py, not timed here) and then through the real
StoreWriter in calls of --batch payloads, as digest does; the first round (hosts and layouts
created) is reported apart from the steady state. Figures: milliseconds per payload, wall and
this process's CPU (on PostgreSQL the server's CPU is not in the latter), median and spread over
calls. Then the rollup step runs to completion with a clock past the settle time, each tier
alone: CPU per bucket recomputed, and per payload at steady state (a host's minute holds 6
payloads at 10 s intervals, its hour 360 payloads and 60 minute rows).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fleet_simulator import Fleet, load_snapshot
from fleetscope.digest.transform import agent_payload_rows
from fleetscope.store import auth
from fleetscope.store.engine import make_engine, migrate
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.rollups import TIER_1H, TIER_1M
from fleetscope.store.writer import BatchRows, StoreWriter
from scratch_database import scratch_database

INTERVAL = timedelta(seconds=10)


def build_rows(fleet: Fleet, hosts: int, rounds: int, start: datetime) -> list[list[BatchRows]]:
    """Per round, every host's payload as digest's transform makes it."""
    rng = random.Random(3)
    out = []
    for r in range(rounds):
        # Agents are not in step: each host's snapshot somewhere in the round's 10 s.
        out.append(
            [
                agent_payload_rows(
                    1, fleet.body(h, rng, start + r * INTERVAL + INTERVAL * (h / hosts))
                )
                for h in range(hosts)
            ]
        )
    return out


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=10) if len(values) > 1 else values * 9
    return f"median {statistics.median(values):.3f} (p10 {q[0]:.3f}, p90 {q[-1]:.3f})"


def bench_database(kind: str, url: str, rounds: list[list[BatchRows]], batch: int) -> None:
    engine = make_engine(url)
    migrate(engine)
    auth.bootstrap(engine, Path(tempfile.mkdtemp()), "pw")
    # A clock at the data's time: no maintenance or rollup runs inside the timed writes.
    last = max(f.ts_ms for r in rounds for b in r for f in b.frames)
    clock_s = last / 1000
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(
        engine, writer.partitions, clock=lambda: clock_s, rollup_interval_seconds=1e9
    )
    maintenance.maintain()
    payloads = [b for r in rounds for b in r]
    first = len(rounds[0])
    wall: list[float] = []
    cpu: list[float] = []
    for n in range(0, len(payloads), batch):
        chunk = payloads[n : n + batch]
        w0, c0 = time.perf_counter(), time.process_time()
        result = writer.write_batches(chunk)
        w1, c1 = time.perf_counter(), time.process_time()
        assert result.batches_written == len(chunk), result
        if n < first:
            print(
                f"[{kind}] first calls (hosts and layouts new): "
                f"{(w1 - w0) * 1000 / len(chunk):.3f} ms/payload wall"
            )
            continue
        wall.append((w1 - w0) * 1000 / len(chunk))
        cpu.append((c1 - c0) * 1000 / len(chunk))
    print(f"[{kind}] write_batches, {batch} payloads a call, {len(wall)} calls, ms per payload:")
    print(f"[{kind}]   wall {spread(wall)}")
    print(f"[{kind}]   cpu  {spread(cpu)} (this process)")
    # Rollups at steady state: every bucket settled, each computed once; minutes from raw
    # frames, then hours from minutes, each tier timed alone.
    clock_s = last / 1000 + 3 * 3600
    per_bucket, per_row = {}, {}
    for tier in (TIER_1M, TIER_1H):
        buckets = rows = 0
        w0, c0 = time.perf_counter(), time.process_time()
        while (done := maintenance.rollups.run_tier(tier)).buckets:
            buckets += done.buckets
            rows += done.rows_read
        w1, c1 = time.perf_counter(), time.process_time()
        per_bucket[tier.name] = (c1 - c0) * 1000 / max(buckets, 1)
        per_row[tier.name] = (c1 - c0) * 1000 / max(rows, 1)
        print(
            f"[{kind}] rollup {tier.name}: {buckets} buckets from {rows} rows in {w1 - w0:.2f} s"
            f" wall, {per_bucket[tier.name]:.3f} ms cpu per bucket"
        )
    # A host sending every 10 s fills a minute with 6 payloads, an hour with 360 payloads and
    # 60 minute rows (the hours here are partial: their cost is scaled by rows read).
    steady = per_bucket["1m"] / 6 + per_row["1h"] * 60 / 360
    print(f"[{kind}] rollups per payload at 10 s intervals: {steady:.3f} ms cpu")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=128, help="payloads per write_batches call")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--snapshot", type=Path, help="a `fleetscope collect --once` output")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    fleet = Fleet.build(load_snapshot(args.snapshot), args.hosts)
    start = (datetime.now(UTC) - timedelta(days=1)).replace(second=0, microsecond=0)
    t0 = time.perf_counter()
    rounds = build_rows(fleet, args.hosts, args.rounds, start)
    n = args.hosts * args.rounds
    example = rounds[0][0]
    audits = sum(len(b.inventory) for r in rounds for b in r)  # a host's first payload only
    print(
        f"{n} payloads: {len(example.frames[0].values)} frame values + "
        f"{len(example.process_groups)} process groups, {audits} inventory audits in all; "
        f"transform {(time.perf_counter() - t0) * 1000 / n:.2f} ms/payload (not timed below)"
    )
    for kind in args.databases.split(","):
        with scratch_database(kind, args.postgres_url) as url:
            bench_database(kind, url, rounds, args.batch)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
