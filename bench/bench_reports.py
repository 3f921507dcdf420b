"""Query latency of the reporting API with a 1,000-host fleet and 7 (or --days) days stored,
on SQLite and PostgreSQL: p50/p99 of the host page's calls, the summary report and the processes
endpoint, measured through the real read API (web/api.py over query/, in process, via the ASGI test
client: routing, auth, the query and the JSON are all in the figure; no network).

    .venv/bin/python bench/bench_reports.py [--hosts 1000] [--days 7] [--runs 40]
        [--backend sqlite|postgresql|both] [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

What is loaded, and why it stands for "1,000 hosts x 7 days". 1,000 hosts at 10 s for 7 days
are 60 M snapshots; writing them through ingest would take days on this machine. Every query
measured here reads either one host along the (host_id, time) primary key, or every host over a
slice of time in one tier. So the store holds what those reads touch, laid out as digest and
the rollup step leave it under the default retention (raw 30 days, 1m 90 days, 1h 730 days):
* the queried hosts (--queried, default 2): all --days days of raw frames at 10 s with 20
  process groups per snapshot, written by StoreWriter, then rolled up by store/rollups.py
  (Rollups.run: metric tiers and the hourly process-group rollup), exactly as digest does;
  `--days 30` stores the 30 days of the host page's longest range (about 4 minutes to load);
* every host: the last RAW_MINUTES of raw frames (StoreWriter, then Rollups.run), so the
  overview and the summary's raw tail are real;
* every other host: 1-hour rows for all --days days, and 1-minute rows for the two spans the
  24-hour summary reads from the 1m tier (the partial hour at the start of its range, and the
  current hour up to the raw frames). Their stats blobs are made by the store's own
  frames_stats/encode_stats over snapshots varied like bench/fleet_simulator.py's
  (a pool of blobs, reused across hosts, so loading stays minutes long), inserted as the
  rollup step writes them.
What is left out: the other hosts' raw frames and 1m rows outside those spans (90 % of the
bytes a real 7 days would have), and their process groups. The queries above never read them;
they would make the tables' B-trees one level deeper and the caches colder, so these figures
are a lower bound when the store does not fit in memory. Process groups are stored for the
queried hosts only.

Each figure is the p50 and p99 of --runs calls (p99 of 40 is in effect the slowest; a case
that has taken a minute stops after at least 5 calls), wall time, with the load average beside
it. The fleet overview and summary keep a cache of what they
decoded (query/fleet.py): their first call after start ("cold") is printed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fleetscope.query.auth import AuthService
from fleetscope.query.fleet import FleetQueries
from fleetscope.query.hosts import HostQueries
from fleetscope.query.inventory import InventoryQueries
from fleetscope.query.metrics import MetricQueries
from fleetscope.query.processes import ProcessQueries
from fleetscope.store import auth
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.store.frames import NAN
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.rollup_math import DAY_MS, HOUR_MS, MINUTE_MS, encode_stats, frames_stats
from fleetscope.store.tables import (
    hosts,
    metric_layouts,
    metric_rollups_1h,
    metric_rollups_1m,
    process_groups,
)
from fleetscope.store.writer import BatchRows, FrameRow, ProcessGroupRow, StoreWriter
from fleetscope.web.api import build_router
from fleetscope.web.services import ReadServices

DATA = Path(__file__).with_name("data") / "vm-snapshot-pair.json"
INTERVAL_MS = 10_000
RAW_MINUTES = 12  # the overview's 10 minutes, and the summary's raw tail after the 1m tier
GROUPS = 20
POOL = 64  # distinct stats blobs per tier
PASSWORD = "bench"


def load_snapshot() -> tuple[tuple[str, ...], list[float | None], list[tuple[str, float, float]]]:
    """The 234 series of a real snapshot, and 20 process groups (name, cpu s, resident B)."""
    rows = json.loads(DATA.read_text())["series"]
    keys = tuple(r[0] for r in rows if not r[0].startswith("process_group_"))
    base = [r[2] for r in rows if not r[0].startswith("process_group_")]
    groups: dict[str, dict[str, float]] = {}
    for key, _, value in rows:
        if key.startswith("process_group_"):
            name = key.split('group="', 1)[1].split('"', 1)[0]
            groups.setdefault(name, {})
            if key.startswith("process_group_cpu_seconds_total"):
                groups[name]["cpu"] = groups[name].get("cpu", 0.0) + value
            elif key.startswith("process_group_resident_bytes"):
                groups[name]["rss"] = value
    largest = sorted(groups.items(), key=lambda g: -g[1].get("rss", 0.0))[:GROUPS]
    return keys, base, [(n, g.get("cpu", 0.0), g.get("rss", 0.0)) for n, g in largest]


class Fleet:
    """Snapshot values varied per host and per instant, as fleet_simulator.py varies them:
    gauges (CPU, memory used) scaled per host and jittered per send; counters grow."""

    def __init__(self, keys: tuple[str, ...], base: list[float | None]) -> None:
        self.keys = keys
        self.base = base
        self.cpu = keys.index("cpu_utilization_percent")
        self.used = keys.index("memory_used_bytes")
        self.counters = [i for i, k in enumerate(keys) if "_total" in k and base[i] is not None]

    def values(self, rng: random.Random, host: int, ts_ms: int) -> list[float | None]:
        values = list(self.base)
        values[self.cpu] = min(100.0, (5 + host % 60) * rng.uniform(0.9, 1.1))
        used = self.base[self.used] or 1e9
        values[self.used] = used * (0.5 + (host % 10) / 10) * rng.uniform(0.95, 1.05)
        for i in self.counters:
            values[i] = (self.base[i] or 0.0) + ts_ms / 1000 * (1 + i % 7)
        return values


def stats_pool(fleet: Fleet, per_bucket: int, seed: int) -> list[bytes]:
    """Stats blobs of buckets of `per_bucket` varied snapshots (the store's own math)."""
    rng = random.Random(seed)
    pool = []
    for n in range(POOL):
        frames = [
            [NAN if v is None else v for v in fleet.values(rng, n, i * INTERVAL_MS)]
            for i in range(per_bucket)
        ]
        pool.append(encode_stats(frames_stats(frames)))
    return pool


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def load(engine: sa.Engine, args: argparse.Namespace, now_ms: int) -> dict[str, int]:
    keys, base, groups = load_snapshot()
    fleet = Fleet(keys, base)
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(engine, writer.partitions, clock=lambda: now_ms / 1000)
    rng = random.Random(1)
    queried = {round(i * (args.hosts - 1) / max(1, args.queried - 1)) for i in range(args.queried)}
    counts = {"raw frames": 0, "process group rows": 0, "1m rows": 0, "1h rows": 0}
    started = time.perf_counter()
    raw_start = now_ms - RAW_MINUTES * MINUTE_MS
    for first in range(raw_start, now_ms + 1, MINUTE_MS):  # the whole fleet's last minutes
        batches = []
        for host in range(args.hosts):
            frames = tuple(
                FrameRow(ts, keys, tuple(fleet.values(rng, host, ts)))
                for ts in range(first, min(first + MINUTE_MS, now_ms + 1), INTERVAL_MS)
            )
            batches.append(BatchRows(1, f"m-{host}", f"host-{host:04}", "bench", None, frames))
            counts["raw frames"] += len(frames)
        writer.write_batches(batches)
    print(f"  raw, all hosts, {RAW_MINUTES} min: {time.perf_counter() - started:.0f} s")
    week_start = now_ms - args.days * DAY_MS
    for host in sorted(queried):
        started = time.perf_counter()
        for first in range(week_start, raw_start, HOUR_MS):
            frames = []
            rows = []
            for ts in range(first, min(first + HOUR_MS, raw_start), INTERVAL_MS):
                frames.append(FrameRow(ts, keys, tuple(fleet.values(rng, host, ts))))
                rows.extend(
                    ProcessGroupRow(
                        ts,
                        name,
                        3,
                        cpu + ts / 1000 * 0.01 * (g + 1) * rng.uniform(0.5, 1.5),
                        rss * rng.uniform(0.95, 1.05),
                        0.0,
                        0.0,
                    )
                    for g, (name, cpu, rss) in enumerate(groups)
                )
            # With a batch id, as agents send them: the writer stores process groups only then.
            writer.write_batches(
                [
                    BatchRows(
                        1,
                        f"m-{host}",
                        f"host-{host:04}",
                        "bench",
                        f"q-{host}-{first}",
                        tuple(frames),
                        tuple(rows),
                    )
                ]
            )
            counts["raw frames"] += len(frames)
            counts["process group rows"] += len(rows)
        print(
            f"  raw + process groups, host-{host:04}, {args.days} days: "
            f"{time.perf_counter() - started:.0f} s"
        )
    started = time.perf_counter()
    rolled = maintenance.rollups.run(max_rounds=100_000)
    print(
        f"  rollup step: {rolled.buckets} buckets from {rolled.rows_read} rows: "
        f"{time.perf_counter() - started:.0f} s"
    )
    # The other hosts' tiers, as the rollup step would have left them.
    started = time.perf_counter()
    minute_pool = stats_pool(fleet, 6, 2)
    hour_pool = stats_pool(fleet, 360, 3)
    with engine.begin() as conn:
        layout_id = conn.execute(sa.select(metric_layouts.c.id)).scalar_one()
        host_ids = dict(conn.execute(sa.select(hosts.c.name, hosts.c.id)).all())
    others = [host_ids[f"host-{h:04}"] for h in range(args.hosts) if h not in queried]
    first_raw_minute = raw_start // MINUTE_MS * MINUTE_MS
    day_ago = now_ms - DAY_MS
    minute_spans = [
        (day_ago // MINUTE_MS * MINUTE_MS - MINUTE_MS, (day_ago // HOUR_MS + 1) * HOUR_MS),
        (now_ms // HOUR_MS * HOUR_MS - HOUR_MS, first_raw_minute),
    ]
    hour_span = (week_start // HOUR_MS * HOUR_MS, first_raw_minute // HOUR_MS * HOUR_MS)
    for table, (lo, hi), step, pool, frames in [
        *[(metric_rollups_1m, span, MINUTE_MS, minute_pool, 6) for span in minute_spans],
        (metric_rollups_1h, hour_span, HOUR_MS, hour_pool, 360),
    ]:
        name = "1m rows" if step == MINUTE_MS else "1h rows"
        for chunk in range(0, len(others), 50):
            rows_out = [
                {
                    "host_id": host_id,
                    "bucket_ms": bucket,
                    "layout_id": layout_id,
                    "tenant_id": 1,
                    "frames": frames,
                    "stats": pool[(host_id * 7 + bucket // step) % POOL],
                }
                for host_id in others[chunk : chunk + 50]
                for bucket in range(lo, hi, step)
            ]
            with engine.begin() as conn:
                # Replace what Rollups.run made from the raw minutes in the same buckets.
                conn.execute(
                    sa.delete(table).where(
                        table.c.host_id.in_(others[chunk : chunk + 50]),
                        table.c.bucket_ms >= lo,
                        table.c.bucket_ms < hi,
                    )
                )
                conn.execute(table.insert(), rows_out)
            counts[name] += len(rows_out)
    print(f"  other hosts' 1m and 1h rows: {time.perf_counter() - started:.0f} s")
    with engine.connect() as conn:
        counts["process group rows"] = conn.execute(
            sa.select(sa.func.count()).select_from(process_groups)
        ).scalar_one()
        counts["1m rows"] = conn.execute(
            sa.select(sa.func.count()).select_from(metric_rollups_1m)
        ).scalar_one()
        counts["1h rows"] = conn.execute(
            sa.select(sa.func.count()).select_from(metric_rollups_1h)
        ).scalar_one()
    return {**counts, "queried hosts": len(queried)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(engine: sa.Engine, args: argparse.Namespace, now_ms: int) -> None:
    services = ReadServices(
        AuthService(engine),
        HostQueries(engine),
        MetricQueries(engine),
        FleetQueries(engine),
        ProcessQueries(engine),
        InventoryQueries(engine),
        clock=lambda: now_ms / 1000,
    )
    app = FastAPI()
    app.include_router(build_router(services))
    client = TestClient(app)
    token = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    with engine.connect() as conn:
        host_id, name = conn.execute(
            sa.select(hosts.c.id, hosts.c.name).where(hosts.c.name == "host-0000")
        ).one()
    end = now_ms / 1000

    def get(path: str) -> Callable[[], object]:
        def run() -> object:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)
            return response

        return run

    def series(hours: float) -> str:
        return (
            f"/api/v1/reports/metrics/{name}?start_time={end - hours * 3600}&end_time={end}"
            "&metrics=cpu_utilization_percent,memory_used_bytes,memory_total_bytes"
        )

    def processes(hours: float) -> str:
        return (
            f"/api/v1/hosts/{host_id}/processes?start_time={end - hours * 3600}"
            f"&end_time={end}&sort=cpu&limit=10"
        )

    cold = {
        "fleet overview": timed(get("/api/v1/fleet")),
        "summary 24 h": timed(get("/api/v1/reports/summary?time_range=24")),
    }
    for what, ms in cold.items():
        print(f"  {what}, first call after start (cold cache): {ms:.0f} ms")

    def page(hours: float) -> Callable[[], object]:
        """What the host page asks for when it opens on a range, one call after another."""
        calls = [get(f"/api/v1/hosts/{host_id}"), get(series(hours)), get(processes(hours))]
        return lambda: [call() for call in calls]

    cases: list[tuple[str, Callable[[], object]]] = [
        ("fleet overview", get("/api/v1/fleet")),
        ("summary 24 h", get("/api/v1/reports/summary?time_range=24")),
        ("host detail", get(f"/api/v1/hosts/{host_id}")),
        ("series 1 h (raw)", get(series(1))),
        ("series 24 h (1m)", get(series(24))),
        ("series 7 d (1h)", get(series(24 * 7))),
        ("series 30 d (1h)", get(series(24 * 30))),
        ("processes 1 h", get(processes(1))),
        ("processes 24 h", get(processes(24))),
        ("processes 7 d", get(processes(24 * 7))),
        ("processes 30 d", get(processes(24 * 30))),
        ("host page, 1 h (detail + series + processes)", page(1)),
        ("host page, 24 h", page(24)),
        ("host page, 7 d", page(24 * 7)),
        ("host page, 30 d", page(24 * 30)),
    ]
    for what, run in cases:
        # --runs calls, or fewer (at least 5) once a case has taken a minute: slow cases are
        # slow enough that 5 calls tell.
        times: list[float] = []
        while len(times) < args.runs and (len(times) < 5 or sum(times) < 60_000):
            times.append(timed(run))
        runs = len(times)
        print(
            f"  {what}: p50 {percentile(times, 50):.0f} ms, p99 {percentile(times, 99):.0f} ms "
            f"({runs} runs; load {os.getloadavg()[0]:.2f})"
        )


@contextmanager
def database(backend: str, args: argparse.Namespace) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield sqlite_url(Path(tmp))
        return
    admin = make_engine(args.postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    db = f"fleetscope_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {db}"))
    try:
        yield sa.make_url(admin.url).set(database=db).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--queried", type=int, default=2, help="hosts with all --days days raw")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with database(backend, args) as url, tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(url)
            migrate(engine)
            auth.bootstrap(engine, Path(tmp), PASSWORD)
            now_ms = int(time.time() * 1000)
            print(
                f"{backend}: loading {args.hosts} hosts x {args.days} days (load "
                f"{os.getloadavg()[0]:.2f})"
            )
            started = time.perf_counter()
            counts = load(engine, args, now_ms)
            print(
                f"  loaded in {time.perf_counter() - started:.0f} s: "
                + ", ".join(f"{k} {v:,}" for k, v in counts.items())
            )
            measure(engine, args, now_ms)
            engine.dispose()


if __name__ == "__main__":
    main()
