"""Disk bytes per stored sample in the raw tier after a simulated day, indexes included, on
SQLite and PostgreSQL, written through the real StoreWriter; then, on PostgreSQL, query
latency with the primary-key btree alone and with a BRIN index on ts_ms added.

    .venv/bin/python bench/bench_store_bytes.py [--hosts 50] [--snapshots 8640] [--shape host]
        [--batch-snapshots 6] [--no-rollups] [--vacuum-minutes 10] [--databases sqlite,postgresql]
        [--postgres-url URL]

The fleet: --hosts hosts, each sending a snapshot every 10 s (8,640 a day) in batches of
--batch-snapshots (6: one upload a minute; 1: an upload per snapshot, what the agent does by
default), every host's batch of the round written in one write_batches call, as digest does.
After every simulated minute the rollup step runs with the clock at that minute, as digest runs
it, which also compacts settled raw rows into chunks (store/compaction.py); --no-rollups skips
it (raw rows as the writer left them). Compaction deletes the rows it rewrites; on PostgreSQL
their space is reused once VACUUM has seen them. Autovacuum does that within about a minute of
real time (autovacuum_naptime) on a partition with this many dead rows, but the bench runs a
simulated day in minutes, so it runs VACUUM (not FULL) every --vacuum-minutes simulated minutes
(10; 0 never) in its place.
Each snapshot has the series of a real one (bench/data/vm-snapshot-pair.json: two snapshots
`fleetscope collect` took 12 s apart on the build VM). `--shape host` drops the per-process-group
series (234 series), `--shape full` keeps them (1,158). Values move the way they do on a host:
a counter grows at the rate the real pair shows (times a per-host factor, with ±30 % noise per
interval) and keeps its resolution (bytes whole, CPU seconds in 1/100 s); a gauge that moved in
the pair wanders around its real value (an AR(1) walk, steps as large as the real change,
integers stay integers, percentages within 0..100); one that did not move stays; an absent
value stays absent (NaN).

Bytes: PostgreSQL, pg_total_relation_size of every partition of metric_frames (heap, TOAST,
indexes); SQLite, the metric_frames table and its index b-trees from dbstat, or the whole file
(page_count * page_size) when SQLite was built without dbstat. "Samples" counts present values;
bytes per value slot (NaN included) is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from fleetscope.query.metrics import MetricQueries
from fleetscope.store import auth
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.rollups import Rollups
from fleetscope.store.tables import hosts, metric_frames
from fleetscope.store.writer import BatchRows, FrameRow, StoreWriter

DATA = Path(__file__).with_name("data") / "vm-snapshot-pair.json"
DAY0 = datetime(2026, 11, 23, tzinfo=UTC)
DAY0_MS = int(DAY0.timestamp() * 1000)
INTERVAL_MS = 10_000
BATCH_SNAPSHOTS = 6  # the default: one upload a minute


def load_shape(shape: str) -> tuple[list[str], list[float | None], list[float | None], float]:
    data = json.loads(DATA.read_text())
    rows = [r for r in data["series"] if shape == "full" or not r[0].startswith("process_group_")]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], data["dt_seconds"]


def simulate_host(
    shape: str, snapshots: int, rng: np.random.Generator
) -> tuple[list[str], np.ndarray]:
    """(series keys, values[snapshot, series]) for one host's day."""
    keys, first, last, dt = load_shape(shape)
    values = np.full((snapshots, len(keys)), np.nan)
    walkers: list[tuple[int, float, float, bool, bool]] = []
    for j, (key, a, b) in enumerate(zip(keys, first, last, strict=True)):
        if a is None or b is None:
            continue
        name = key.split("{")[0]
        integer = float(a).is_integer() and float(b).is_integer()
        if name.endswith("_total"):
            rate = max(b - a, 0.0) / dt * rng.lognormal(0.0, 0.5)
            step = rate * INTERVAL_MS / 1000 * np.clip(rng.normal(1.0, 0.3, snapshots), 0, None)
            column = a + np.cumsum(step)
            if name.endswith("seconds_total"):
                column = np.round(column, 2)
            elif integer:
                column = np.round(column)
            values[:, j] = column
        elif a != b:
            walkers.append((j, a, abs(b - a) + 1e-3 * abs(a), integer, "percent" in name))
        else:
            values[:, j] = a
    if walkers:
        columns = [w[0] for w in walkers]
        centre = np.array([w[1] for w in walkers])
        scale = np.array([w[2] for w in walkers])
        noise = rng.normal(0.0, 1.0, (snapshots, len(walkers))) * scale
        walk = np.empty((snapshots, len(walkers)))
        walk[0] = centre
        for i in range(1, snapshots):
            walk[i] = walk[i - 1] + 0.05 * (centre - walk[i - 1]) + noise[i]
        walk = np.maximum(walk, 0.0)
        for n, (_, _, _, integer, percent) in enumerate(walkers):
            if percent:
                walk[:, n] = np.minimum(walk[:, n], 100.0)
            if integer:
                walk[:, n] = np.round(walk[:, n])
        values[:, columns] = walk
    return keys, values


def fleet_minutes(
    hosts_count: int, snapshots: int, shape: str, seed: int, batch_snapshots: int = BATCH_SNAPSHOTS
) -> Iterator[tuple[int, list[BatchRows]]]:
    """(first snapshot index, every host's batch of the round) per write_batches call."""
    rng = np.random.default_rng(seed)
    fleet = []
    for h in range(hosts_count):
        keys, values = simulate_host(shape, snapshots, rng)
        offset_ms = int(rng.integers(0, INTERVAL_MS))  # agents are not in step
        fleet.append((h, tuple(keys), values, offset_ms))
    for start in range(0, snapshots, batch_snapshots):
        batch_list = []
        for h, keys, values, offset_ms in fleet:
            frames = []
            for i in range(start, min(start + batch_snapshots, snapshots)):
                row = values[i].tolist()
                frames.append(
                    FrameRow(
                        ts_ms=DAY0_MS + i * INTERVAL_MS + offset_ms,
                        series=keys,
                        values=tuple(None if math.isnan(v) else v for v in row),
                    )
                )
            batch_list.append(
                BatchRows(
                    tenant_id=1,
                    machine_id=f"machine-{h:04d}",
                    hostname=f"host-{h:04d}",
                    agent_version="bench",
                    batch_id=f"{h:08d}-{start:08d}",
                    frames=tuple(frames),
                )
            )
        yield start, batch_list


def frames_bytes(engine: sa.Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            total = conn.execute(
                sa.text(
                    "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                    " WHERE inhparent = 'metric_frames'::regclass"
                )
            ).scalar_one()
            return int(total), "pg_total_relation_size of the partitions"
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            total = conn.exec_driver_sql(
                "SELECT sum(pgsize) FROM dbstat WHERE name = 'metric_frames'"
                " OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'metric_frames')"
            ).scalar_one()
            return int(total), "dbstat: metric_frames and its indexes"
        except sa.exc.OperationalError:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int(pages) * int(size), "whole file (no dbstat)"


def timed(call: object, runs: int) -> float:
    """Median milliseconds of call() over runs."""
    assert callable(call)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def query_figures(engine: sa.Engine, snapshots: int) -> dict[str, float]:
    """One host's hour (decoded, through MetricQueries), and every host's last five minutes."""
    with engine.connect() as conn:
        host_ids = list(conn.execute(sa.select(hosts.c.id)).scalars())
    day_end = DAY0_MS + snapshots * INTERVAL_MS
    queries = MetricQueries(engine)
    rng = np.random.default_rng(7)

    def one_host_hour() -> None:
        host = int(rng.choice(host_ids))
        start = DAY0_MS + int(rng.integers(0, max(1, day_end - DAY0_MS - 3_600_000)))
        queries.host_series(1, host, start, start + 3_600_000, {"cpu_utilization_percent"})

    def fleet_five_minutes() -> None:
        start = day_end - 300_000 - int(rng.integers(0, 3_600_000))
        with engine.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT host_id, ts_ms, length(vals) FROM metric_frames"
                    " WHERE ts_ms >= :a AND ts_ms < :b"
                ),
                {"a": start, "b": start + 300_000},
            ).all()

    one_host_hour()  # warm the layout cache and the pool
    return {
        "one host, 1 h, decoded (ms)": timed(one_host_hour, 30),
        "all hosts, 5 min slice (ms)": timed(fleet_five_minutes, 30),
    }


def load(engine: sa.Engine, args: argparse.Namespace) -> dict[str, float]:
    """Write the simulated day, running the rollup step (and VACUUM) as the module doc says."""
    writer = StoreWriter(engine)
    StoreMaintenance(engine, writer.partitions, clock=lambda: DAY0_MS / 1000 + 43_200).maintain()
    out = dict.fromkeys(("frames", "slots", "present", "write_s", "rollup_s", "vacuum_s"), 0.0)
    clock = [DAY0_MS / 1000]
    vacuum = engine.dialect.name == "postgresql" and args.rollups and args.vacuum_minutes

    def vacuum_now() -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM metric_frames")

    rollups = Rollups(engine, clock=lambda: clock[0])
    minute = 0
    for start, batches in fleet_minutes(
        args.hosts, args.snapshots, args.shape, args.seed, args.batch_snapshots
    ):
        for batch in batches:
            for frame in batch.frames:
                out["slots"] += len(frame.values)
                out["present"] += sum(v is not None for v in frame.values)
        started = time.perf_counter()
        out["frames"] += writer.write_batches(batches).frames_written
        out["write_s"] += time.perf_counter() - started
        now_ms = DAY0_MS + (start + args.batch_snapshots) * INTERVAL_MS
        if args.rollups and now_ms // 60_000 > minute:
            minute = now_ms // 60_000
            clock[0] = now_ms / 1000
            out["rollup_s"] += timed(rollups.run, 1) / 1000
            if vacuum and minute % args.vacuum_minutes == 0:
                out["vacuum_s"] += timed(vacuum_now, 1) / 1000
    return out


def run(url: str, args: argparse.Namespace, data_dir: Path) -> None:
    engine = make_engine(url)
    migrate(engine)
    auth.bootstrap(engine, data_dir, "bench")
    loaded = load(engine, args)
    frames, slots, present = int(loaded["frames"]), int(loaded["slots"]), int(loaded["present"])
    write_seconds, rollup_seconds = loaded["write_s"], loaded["rollup_s"]
    vacuum = engine.dialect.name == "postgresql" and args.rollups and args.vacuum_minutes
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(metric_frames)).scalar_one()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE metric_frames")
    brin = None
    if engine.dialect.name == "postgresql":
        # The migration makes a BRIN on ts_ms; measure without it first, then with it.
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_metric_frames_ts_ms_brin")
    total, how = frames_bytes(engine)
    name = engine.dialect.name
    print(f"\n{name}: {args.hosts} hosts x {args.snapshots} snapshots, shape {args.shape}")
    print(f"  frames {frames:,}, value slots {slots:,}, present samples {present:,}")
    print(
        f"  batches of {args.batch_snapshots} snapshot(s); metric_frames rows {rows:,}"
        f" ({frames / rows:.1f} snapshots a row)"
    )
    if args.rollups:
        print(
            f"  rollup step after every minute (1m, 1h, compaction): {rollup_seconds:.1f} s,"
            f" {rollup_seconds / frames * 1e6:.0f} us per frame"
        )
    if vacuum:
        print(
            f"  VACUUM every {args.vacuum_minutes} simulated minutes (for autovacuum):"
            f" {loaded['vacuum_s']:.1f} s"
        )
    print(
        f"  write: {frames / write_seconds:,.0f} frames/s, {present / write_seconds:,.0f}"
        f" samples/s (writer end to end: encode + {'COPY' if name == 'postgresql' else 'INSERT'})"
    )
    print(
        f"  size without BRIN: {total / 1e6:,.1f} MB ({how})"
        if name == "postgresql"
        else f"  size: {total / 1e6:,.1f} MB ({how})"
    )
    for label, ms in query_figures(engine, args.snapshots).items():
        print(f"  {label}: {ms:.2f}")
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE INDEX ix_metric_frames_ts_ms_brin ON metric_frames USING brin (ts_ms)"
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE metric_frames")
        brin, _ = frames_bytes(engine)
        print(f"  + BRIN (ts_ms), as shipped: {brin - total:,} bytes more")
        for label, ms in query_figures(engine, args.snapshots).items():
            print(f"  + BRIN {label}: {ms:.2f}")
        total = brin
    print(
        f"  bytes per present sample {total / present:.2f}, per value slot {total / slots:.2f},"
        f" per frame {total / frames:,.0f} (indexes included)"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--snapshots", type=int, default=8640)
    parser.add_argument("--shape", choices=["host", "full"], default="host")
    parser.add_argument("--batch-snapshots", type=int, default=BATCH_SNAPSHOTS)
    parser.add_argument("--no-rollups", dest="rollups", action="store_false")
    parser.add_argument("--vacuum-minutes", type=int, default=10)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetscope-bench-") as tmp:
        for database in args.databases.split(","):
            if database == "sqlite":
                run(sqlite_url(Path(tmp)), args, Path(tmp))
                continue
            admin = make_engine(args.postgres_url).execution_options(isolation_level="AUTOCOMMIT")
            name = f"fleetscope_bench_{secrets.token_hex(4)}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
            try:
                url = sa.make_url(args.postgres_url).set(database=name)
                run(url.render_as_string(hide_password=False), args, Path(tmp))
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
                admin.dispose()


if __name__ == "__main__":
    main()
