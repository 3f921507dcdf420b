"""Rollup tiers: the rollup step's throughput over a simulated fleet day, the tiers' bytes, and
one host's 30-day query on raw, 1-minute and 1-hour tiers, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_rollups.py [--hosts 20] [--query-days 30]
        [--databases sqlite,postgresql] [--postgres-url URL]

Part 1: --hosts hosts send a day of 10 s snapshots (bench_store_bytes.py's simulated fleet,
234 series of a real host) through the real StoreWriter, which marks every minute dirty; then
the rollup step (store/rollups.py) runs to completion with a clock two hours after the day,
first the minutes (from raw frames), then the hours (from minutes). Samples/s counts value
slots of the source rows read (frames x series for minutes, minute rows x series for hours).
Part 2: one host, --query-days days, rolled up the same way; then the median latency of
MetricQueries reading one metric over the whole range from each tier (decoded points).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench_store_bytes import BATCH_SNAPSHOTS, DAY0_MS, INTERVAL_MS, fleet_minutes, timed
from fleetscope.query.metrics import MetricQueries
from fleetscope.store import auth
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.rollup_math import HOUR_MS, MINUTE_MS
from fleetscope.store.rollups import TIER_1H, TIER_1M, Rollups
from fleetscope.store.tables import hosts, metric_rollups_1h, metric_rollups_1m
from fleetscope.store.writer import BatchRows, StoreWriter

DAY_SNAPSHOTS = 86_400_000 // INTERVAL_MS
METRIC = "cpu_utilization_percent"


def table_bytes(engine: sa.Engine, name: str) -> int:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return int(
                conn.execute(sa.text(f"SELECT pg_total_relation_size('{name}')")).scalar_one()
            )
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            return int(
                conn.exec_driver_sql(
                    f"SELECT sum(pgsize) FROM dbstat WHERE name = '{name}'"  # noqa: S608
                    f" OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = '{name}')"
                ).scalar_one()
                or 0
            )
        except sa.exc.OperationalError:
            return -1


def fill(engine: sa.Engine, hosts_count: int, snapshots: int) -> tuple[Rollups, int, float]:
    clock_s = (DAY0_MS + snapshots * INTERVAL_MS + 2 * HOUR_MS) / 1000
    writer = StoreWriter(engine)
    rollups = StoreMaintenance(engine, writer.partitions, clock=lambda: clock_s).rollups
    frames = 0
    started = time.perf_counter()
    # About an hour of one host's uploads per call: fewer, larger transactions.
    chunk = max(1, 60 // hosts_count)
    pending: list[BatchRows] = []
    for n, (_, batches) in enumerate(fleet_minutes(hosts_count, snapshots, "host", seed=1), 1):
        pending.extend(batches)
        if n % chunk == 0:
            frames += writer.write_batches(pending).frames_written
            pending = []
    if pending:
        frames += writer.write_batches(pending).frames_written
    return rollups, frames, time.perf_counter() - started


def roll_up_timed(rollups: Rollups) -> dict[str, tuple[int, int, float]]:
    """Per tier: (buckets, source rows, seconds) of running the step to completion."""
    out = {}
    for tier in (TIER_1M, TIER_1H):
        buckets = rows = 0
        started = time.perf_counter()
        while True:
            done = rollups.run_tier(tier)
            buckets += done.buckets
            rows += done.rows_read
            if done.buckets == 0:
                break
        out[tier.name] = (buckets, rows, time.perf_counter() - started)
    return out


def bench_database(kind: str, url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    migrate(engine)
    auth.bootstrap(engine, Path(tempfile.mkdtemp()), "pw")
    series = 234
    rollups, frames, write_s = fill(engine, args.hosts, DAY_SNAPSHOTS)
    print(f"[{kind}] wrote {args.hosts} hosts x 1 day: {frames} frames in {write_s:.1f} s")
    figures = roll_up_timed(rollups)
    for name, (buckets, rows, seconds) in figures.items():
        print(
            f"[{kind}] rollup {name}: {buckets} buckets from {rows} source rows in {seconds:.2f} s"
            f" = {buckets / seconds:,.0f} buckets/s, {rows * series / seconds:,.0f} samples/s"
        )
    for table in (metric_rollups_1m, metric_rollups_1h):
        size = table_bytes(engine, table.name)
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        print(
            f"[{kind}] {table.name}: {count} rows, {size / max(count, 1):,.0f} B/row,"
            f" {size / max(count * series, 1):.2f} B per series-bucket (min, max, sum, count)"
        )
    engine.dispose()


def bench_query(kind: str, url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    migrate(engine)
    auth.bootstrap(engine, Path(tempfile.mkdtemp()), "pw")
    snapshots = args.query_days * DAY_SNAPSHOTS
    rollups, frames, write_s = fill(engine, 1, snapshots)
    figures = roll_up_timed(rollups)
    print(
        f"[{kind}] 1 host x {args.query_days} days: {frames} frames written in {write_s:.1f} s,"
        f" rolled up in {sum(f[2] for f in figures.values()):.1f} s"
    )
    with engine.connect() as conn:
        host = int(conn.execute(sa.select(hosts.c.id)).scalar_one())
    queries = MetricQueries(engine)
    start, end = DAY0_MS, DAY0_MS + snapshots * INTERVAL_MS
    for step in (None, MINUTE_MS, HOUR_MS):
        found = queries.series(1, host, start, end, {METRIC}, step_ms=step or 1)
        points = len(found.series[0].points)
        ms = timed(lambda s=step: queries.series(1, host, start, end, {METRIC}, step_ms=s or 1), 5)
        print(
            f"[{kind}] {args.query_days}-day range, tier {found.tier}: {points} points, {ms:.1f} ms"
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--query-days", type=int, default=30)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    assert BATCH_SNAPSHOTS == 6  # one upload a minute: every write touches one minute a host
    for kind in args.databases.split(","):
        if kind == "sqlite":
            for part in (bench_database, bench_query):
                with tempfile.TemporaryDirectory() as tmp:
                    part(kind, sqlite_url(Path(tmp)), args)
            continue
        admin = make_engine(args.postgres_url).execution_options(isolation_level="AUTOCOMMIT")
        for part in (bench_database, bench_query):
            name = f"fleetscope_bench_{secrets.token_hex(4)}"
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {name}"))
            try:
                part(
                    kind,
                    sa.make_url(args.postgres_url).set(database=name).render_as_string(False),
                    args,
                )
            finally:
                with admin.connect() as conn:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


if __name__ == "__main__":
    main()
