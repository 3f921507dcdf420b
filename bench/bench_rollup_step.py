"""The 1-minute rollup step alone (store/rollups.py run_tier with TIER_1M, which compacts the
minutes' raw rows into chunks, store/compaction.py): CPU per stored sample and per bucket, on a
store filled the way the embedded server fills it, and fingerprints of what it leaves stored.

    .venv/bin/python bench/bench_rollup_step.py [--hosts 256] [--minutes 4] [--per-minute 48]
        [--batch 256] [--database sqlite|postgresql] [--postgres-url URL]
        [--values fleet|moving] [--snapshot FILE] [--profile]

The frames: a real node's snapshot (by default `fleetscope collect --once` on the fixture trees,
../shared/fixtures/live/t0/proc, a real 2-core VM's /proc, with node_exporter's fixture /sys, so
that every run and every revision stores the same values; or --snapshot FILE), made into
--hosts hosts by bench/fleet_simulator.py's Fleet (per-host scale, varied gauges), one snapshot
per payload as the agent uploads, --per-minute payloads a host-minute (48: the density of the
300 s embedded simulator run, about 0.8 payloads a host a second), turned into rows by digest's
transform and written through the real StoreWriter in calls of --batch payloads, round by
round, as digest does. --batch may not exceed --hosts: a call would then hold several
snapshots of one host, which the writer stores as a chunk instead of the single-snapshot frames
that the step compacts in the live system (an earlier bench's mistake). The simulator's
payloads repeat their counters (only gauges vary), so a host-minute compresses into one chunk;
`--values moving` writes bench_store_bytes.py's simulated hosts instead (234 series of a real
host, counters growing at its rates, gauges wandering), whose minutes exceed the chunk cap and
are split (chunk_writes.encode_capped).

Timed: the 1-minute step, minute by minute with the clock just past each minute's settle time
(so each transaction claims one minute of up to `rollup_slice_buckets` hosts, as digest's
maintenance does every 10 s), until no dirty minute is left; this process's CPU (on PostgreSQL
the server's CPU is not in it; wall is printed beside). Per sample: CPU / (payloads x metric
values a payload, the simulator's "samples"). The fingerprints are SHA-256 of, in key order:
the metric_rollups_1m rows (host, bucket, layout, frames, stats blob), the metric_frames rows
as stored (host, time, layout, blob), and their decoded snapshots (host, layout, time, values'
bits; a snapshot stored twice counted once), so that a change to the step can be shown to store
the same bytes, or the same values when only the chunking changed.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import math
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from bench_store_bytes import simulate_host
from fleet_simulator import FLEETSCOPE, Fleet, load_snapshot
from fleetscope.digest.transform import agent_payload_rows
from fleetscope.store import auth
from fleetscope.store.chunks import decode_rows
from fleetscope.store.engine import make_engine, migrate
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.rollup_math import MINUTE_MS
from fleetscope.store.rollups import SETTLE_MS, TIER_1M
from fleetscope.store.tables import metric_frames, metric_rollups_1m
from fleetscope.store.writer import BatchRows, FrameRow, StoreWriter
from scratch_database import scratch_database

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
DAY0 = datetime(2026, 11, 23, tzinfo=UTC)


def fixture_snapshot() -> dict[str, Any]:
    """`fleetscope collect --once` on the fixture trees: the same values on every run."""
    empty = tempfile.mkdtemp()
    out = subprocess.run(
        [
            *FLEETSCOPE,
            "collect",
            "--once",
            "--procfs",
            str(FIXTURES / "live" / "t0" / "proc"),
            "--sysfs",
            str(FIXTURES / "node_exporter" / "tree" / "sys"),
            "--rootfs",
            empty,
            "--log-level",
            "error",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    snap: dict[str, Any] = json.loads(out)
    # What the collecting process measured of itself differs from run to run: fixed values,
    # so that every run stores the same bytes.
    snap["agent"] = {"cpu_seconds_total": 0.93, "resident_bytes": 69_177_344}
    for collector in snap.get("collectors", []):
        collector["duration_seconds"] = 0.001
    return snap


def build_rounds(fleet: Fleet, hosts: int, minutes: int, per_minute: int) -> list[list[BatchRows]]:
    """Per round (one snapshot time slot), every host's payload as digest's transform makes it;
    the hosts spread over the slot, as agents are not in step."""
    rng = random.Random(3)
    interval = timedelta(milliseconds=MINUTE_MS / per_minute)
    rounds = []
    for r in range(minutes * per_minute):
        rounds.append(
            [
                agent_payload_rows(
                    1, fleet.body(h, rng, DAY0 + r * interval + interval * (h / hosts))
                )
                for h in range(hosts)
            ]
        )
    return rounds


def moving_rounds(hosts: int, minutes: int, per_minute: int) -> list[list[BatchRows]]:
    """As build_rounds, with bench_store_bytes.py's simulated hosts (234 series of a real
    host, counters growing at its rates, gauges wandering) instead of the simulator's payloads,
    whose counters repeat from one payload to the next."""
    rng = np.random.default_rng(1)
    snapshots = minutes * per_minute
    interval_ms = MINUTE_MS // per_minute
    day0_ms = int(DAY0.timestamp() * 1000)
    fleet = []
    for h in range(hosts):
        keys, values = simulate_host("host", snapshots, rng)
        fleet.append((h, tuple(keys), values, int(rng.integers(0, interval_ms))))
    rounds = []
    for i in range(snapshots):
        batch = []
        for h, keys, values, offset_ms in fleet:
            row = tuple(None if math.isnan(v) else v for v in values[i].tolist())
            frame = FrameRow(ts_ms=day0_ms + i * interval_ms + offset_ms, series=keys, values=row)
            batch.append(
                BatchRows(
                    tenant_id=1,
                    machine_id=f"machine-{h:04d}",
                    hostname=f"host-{h:04d}",
                    agent_version="bench",
                    batch_id=f"{h:08d}-{i:08d}",
                    frames=(frame,),
                )
            )
        rounds.append(batch)
    return rounds


def fingerprints(engine: sa.Engine) -> dict[str, str]:
    r, f = metric_rollups_1m.c, metric_frames.c
    rollups = hashlib.sha256()
    stored = hashlib.sha256()
    decoded: dict[tuple[int, int, int], bytes] = {}
    with engine.connect() as conn:
        for row in conn.execute(
            sa.select(r.host_id, r.bucket_ms, r.layout_id, r.frames, r.stats).order_by(
                r.host_id, r.bucket_ms, r.layout_id
            )
        ):
            rollups.update(repr(tuple(row[:4])).encode() + bytes(row[4]))
        for host_id, ts_ms, layout_id, blob in conn.execute(
            sa.select(f.host_id, f.ts_ms, f.layout_id, f.vals).order_by(
                f.host_id, f.layout_id, f.ts_ms
            )
        ):
            stored.update(repr((host_id, ts_ms, layout_id)).encode() + bytes(blob))
            times, values = decode_rows(ts_ms, bytes(blob))
            for ts, row in zip(times.tolist(), values, strict=True):
                decoded.setdefault((host_id, layout_id, ts), np.ascontiguousarray(row).tobytes())
    values = hashlib.sha256()
    for key in sorted(decoded):
        values.update(repr(key).encode() + decoded[key])
    return {
        "metric_rollups_1m rows": rollups.hexdigest()[:16],
        "metric_frames rows as stored": stored.hexdigest()[:16],
        "metric_frames decoded values": values.hexdigest()[:16],
    }


def count_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(metric_frames)).scalar_one())


def bench(
    url: str, kind: str, rounds: list[list[BatchRows]], per_payload: int, args: argparse.Namespace
) -> None:
    engine = make_engine(url)
    migrate(engine)
    auth.bootstrap(engine, Path(tempfile.mkdtemp()), "pw")
    now_ms = [DAY0.timestamp() * 1000]
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(
        engine, writer.partitions, clock=lambda: now_ms[0] / 1000, rollup_interval_seconds=1e9
    )
    maintenance.maintain()
    payloads = [b for r in rounds for b in r]
    w0 = time.perf_counter()
    for n in range(0, len(payloads), args.batch):
        chunk = payloads[n : n + args.batch]
        result = writer.write_batches(chunk)
        assert result.batches_written == len(chunk), result
    rows_before = count_rows(engine)
    print(
        f"[{kind}] wrote {len(payloads)} payloads ({args.hosts} hosts x {args.minutes} min x"
        f" {args.per_minute}) in calls of {args.batch}: {rows_before} metric_frames rows,"
        f" {time.perf_counter() - w0:.1f} s"
    )
    profile = cProfile.Profile() if args.profile else None
    buckets = rows_read = steps = 0
    cpu = wall = 0.0
    for minute in range(args.minutes):
        bucket = int(DAY0.timestamp() * 1000) + minute * MINUTE_MS
        now_ms[0] = bucket + SETTLE_MS + TIER_1M.step_ms  # this minute settled, the next not
        while True:
            w0, c0 = time.perf_counter(), time.process_time()
            if profile is not None:
                profile.enable()
            done = maintenance.rollups.run_tier(TIER_1M)
            if profile is not None:
                profile.disable()
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            if not done.buckets:
                break
            steps += 1
            buckets += done.buckets
            rows_read += done.rows_read
    samples = len(payloads) * per_payload
    print(
        f"[{kind}] 1-minute step: {buckets} buckets in {steps} transactions, {rows_read}"
        f" snapshots read; metric_frames rows {rows_before} -> {count_rows(engine)}"
    )
    print(
        f"[{kind}] cpu {cpu:.2f} s (wall {wall:.2f} s): {cpu * 1e6 / samples:.3f} us per sample"
        f" ({per_payload} a payload), {cpu * 1000 / max(buckets, 1):.2f} ms per"
        f" bucket"
    )
    for name, digest in fingerprints(engine).items():
        print(f"[{kind}] sha256 {name}: {digest}")
    if profile is not None:
        pstats.Stats(profile, stream=sys.stdout).sort_stats(args.sort).print_stats(25)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=256)
    parser.add_argument("--minutes", type=int, default=4)
    parser.add_argument("--per-minute", type=int, default=48, help="payloads a host-minute")
    parser.add_argument("--batch", type=int, help="payloads a write_batches call (--hosts)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--values", choices=("fleet", "moving"), default="fleet")
    parser.add_argument("--snapshot", type=Path, help="a `fleetscope collect --once` output")
    parser.add_argument("--profile", action="store_true", help="cProfile, top 25 by --sort")
    parser.add_argument("--sort", default="cumulative", help="pstats key: cumulative, tottime")
    args = parser.parse_args()
    args.batch = args.batch or args.hosts
    if args.batch > args.hosts:
        parser.error("--batch may not exceed --hosts (see the module doc)")
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    t0 = time.perf_counter()
    if args.values == "fleet":
        snap = load_snapshot(args.snapshot) if args.snapshot else fixture_snapshot()
        fleet = Fleet.build(snap, args.hosts)
        rounds = build_rounds(fleet, args.hosts, args.minutes, args.per_minute)
        per_payload = fleet.samples_per_payload
    else:
        rounds = moving_rounds(args.hosts, args.minutes, args.per_minute)
        first = rounds[0][0].frames[0].values
        per_payload = sum(v is not None for v in first)
    print(
        f"{args.hosts * args.minutes * args.per_minute} payloads of {per_payload} samples"
        f" ({args.values}) built in {time.perf_counter() - t0:.1f} s"
    )
    with scratch_database(args.database, args.postgres_url) as url:
        bench(url, args.database, rounds, per_payload, args)
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
