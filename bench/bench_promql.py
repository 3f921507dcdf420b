"""query_range latency of the Prometheus API's engine: a 24-hour range at a 15 s step over
100 hosts (5,761 steps), p50/p99 of --runs calls, on SQLite.

    .venv/bin/python bench/bench_promql.py [--hosts 100] [--hours 24] [--step 15] [--runs 5]

What is loaded: every host has raw frames every 10 s (the agent's default) for the range plus
the 5-minute lookback, simulated by bench_store_bytes.py's `simulate_host` (the 234 series of a
real snapshot, 194 present; counters grow at the real rate with their resolution, gauges
wander: about 630 B a compressed frame, as the store measured in docs/data-model.md), one
layout, compressed by the store's own encode_frame and inserted as the writer lays them out.
Writing them through ingest would take the better part of an hour on this machine, and the
query reads only metric_frames and metric_layouts.

What is timed: PromEngine.range (selection from the store, decoding, evaluation) plus the
Prometheus JSON rendering and encoding that the route does (web/routes/prometheus.py render),
in process: no HTTP, no auth. The store read alone (PromStore.select of the query's selector)
is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import msgspec
import numpy as np
import promql_parser as pp
import sqlalchemy as sa

from bench_store_bytes import simulate_host
from fleetscope.query.promql.engine import PromEngine, matchers_of, parse
from fleetscope.query.promql.store import PromStore
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.store.frames import encode_frame, layout_digest, layout_json
from fleetscope.store.tables import hosts, metric_frames, metric_layouts, tenants
from fleetscope.web.routes.prometheus import render

INTERVAL_MS = 10_000
QUERIES = (
    'sum by (host) (rate(cpu_seconds_total{mode!="idle"}[5m]))',
    "100 * memory_used_bytes / memory_total_bytes",
    'avg(rate(cpu_seconds_total{mode="user"}[5m]))',
)


def load(engine: sa.Engine, n_hosts: int, start_ms: int, end_ms: int) -> int:
    times = np.arange(start_ms, end_ms + 1, INTERVAL_MS)
    rng = np.random.default_rng(7)
    keys, _ = simulate_host("host", 2, rng)
    with engine.begin() as conn:
        tenant = conn.execute(
            sa.insert(tenants).values(name="bench", created_ms=0).returning(tenants.c.id)
        ).scalar_one()
        layout = conn.execute(
            sa.insert(metric_layouts)
            .values(tenant_id=tenant, digest=layout_digest(keys), series=layout_json(keys))
            .returning(metric_layouts.c.id)
        ).scalar_one()
    for h in range(n_hosts):
        _, values = simulate_host("host", len(times), rng)
        with engine.begin() as conn:
            host = conn.execute(
                sa.insert(hosts)
                .values(
                    tenant_id=tenant,
                    machine_id=f"bench-{h}",
                    name=f"host-{h:03d}",
                    agent_version="bench",
                    first_seen_ms=start_ms,
                    last_seen_ms=end_ms,
                )
                .returning(hosts.c.id)
            ).scalar_one()
            rows = [
                {
                    "host_id": host,
                    "ts_ms": int(t),
                    "layout_id": layout,
                    "tenant_id": tenant,
                    "vals": encode_frame(values[i].tolist()),
                }
                for i, t in enumerate(times)
            ]
            conn.execute(sa.insert(metric_frames), rows)
    return tenant


def first_selector(query: str) -> pp.VectorSelector:
    found: list[pp.VectorSelector] = []

    def visit(node: pp.Expr) -> bool:
        if isinstance(node, pp.VectorSelector):
            found.append(node)
            return False
        return True

    pp.walk(parse(query), visit)
    return found[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--step", type=float, default=15)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    end_ms = 1_796_000_000_000
    start_ms = end_ms - round(args.hours * 3600_000)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(sqlite_url(Path(tmp)))
        migrate(engine)
        began = time.perf_counter()
        tenant = load(engine, args.hosts, start_ms - 5 * 60_000, end_ms)
        with engine.connect() as conn:
            frames = conn.execute(sa.select(sa.func.count()).select_from(metric_frames)).scalar()
        print(
            f"loaded {frames:,} frames ({args.hosts} hosts x {args.hours:g} h at 10 s) in "
            f"{time.perf_counter() - began:.0f} s; "
            f"database {os.path.getsize(Path(tmp) / 'fleetscope.db') / 2**20:.0f} MiB"
        )
        store = PromStore(engine)
        prom = PromEngine(store)
        step_ms = round(args.step * 1000)
        encoder = msgspec.json.Encoder()
        steps = (end_ms - start_ms) // step_ms + 1
        print(f"range {args.hours:g} h, step {args.step:g} s: {steps} steps; {args.runs} runs each")
        for query in QUERIES:
            timings, reads = [], []
            size = 0
            for _ in range(args.runs):
                t0 = time.perf_counter()
                result = prom.range(tenant, query, start_ms, end_ms, step_ms)
                size = len(encoder.encode({"status": "success", "data": render(result)}))
                timings.append(time.perf_counter() - t0)
            selector = first_selector(query)
            t0 = time.perf_counter()
            store.select(tenant, matchers_of(selector), start_ms - 600_000, end_ms)
            reads.append(time.perf_counter() - t0)
            print(
                f"{query}\n  query_range p50 {statistics.median(timings) * 1000:,.0f} ms, "
                f"p99 {percentile(timings, 0.99) * 1000:,.0f} ms; {len(result.series)} series, "
                f"{size / 2**20:.1f} MiB of JSON; store read of its first selector (one run) "
                f"{statistics.median(reads) * 1000:,.0f} ms; load average "
                f"{os.getloadavg()[0]:.2f}"
            )


if __name__ == "__main__":
    main()
