"""GET /api/v1/fleet's JSON at fleet scale: web/fleetjson.py's writer against building the
documented FleetHostOut models and having pydantic validate and dump them (what FastAPI does
with a response model), for the same synthetic overview.

    .venv/bin/python bench/bench_fleet_json.py [--hosts 1000] [--runs 15]

Each host has the overview's full sparkline (query/fleet.py SPARK_POINTS + 1 points of three
values) and latest headline values. The writer is timed cold (a new FleetJson: every
sparkline fragment serialised) and warm (the same sparkline lists as the last call, as
query/fleet.py hands back until a host sends a new sample: fragments reused). The outputs are
checked equal as JSON first. Wall time per call in milliseconds, median and min of the runs,
with the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import TypeAdapter

from fleetscope.query.fleet import SPARK_POINTS, FleetHost, Headline
from fleetscope.web.fleetjson import FleetJson
from fleetscope.web.schemas import FleetHostOut, HeadlineOut, SparkOut


def fleet(hosts: int, seed: int = 7) -> list[FleetHost]:
    rng = random.Random(seed)
    now = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)

    def headline() -> Headline:
        return Headline(
            rng.uniform(0, 100), rng.uniform(0, 100), rng.uniform(0, 100), rng.uniform(0, 1e8)
        )

    t0 = now.timestamp() - 600
    return [
        FleetHost(
            id=i,
            name=f"host-{i:05d}",
            machine_id=f"{i:032x}",
            agent_version="0.9.0",
            last_seen=now,
            status="live",
            interval_seconds=10.0,
            latest=headline(),
            spark=[(t0 + 20 * k, headline()) for k in range(SPARK_POINTS + 1)],
        )
        for i in range(1, hosts + 1)
    ]


def models(found: list[FleetHost]) -> list[FleetHostOut]:
    return [
        FleetHostOut(
            id=h.id,
            name=h.name,
            machine_id=h.machine_id,
            agent_version=h.agent_version,
            last_seen=h.last_seen,
            status=h.status,
            interval_seconds=h.interval_seconds,
            latest=None if h.latest is None else HeadlineOut.of(h.latest),
            spark=SparkOut(
                t=[t for t, _ in h.spark],
                cpu_percent=[v.cpu_percent for _, v in h.spark],
                memory_percent=[v.memory_percent for _, v in h.spark],
                disk_percent=[v.disk_percent for _, v in h.spark],
            ),
        )
        for h in found
    ]


def timed(runs: int, call: Callable[[], object]) -> tuple[float, float]:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        took.append((time.perf_counter() - start) * 1000)
    return statistics.median(took), min(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    found = fleet(args.hosts)
    adapter = TypeAdapter(list[FleetHostOut])
    built = models(found)
    by_pydantic = adapter.dump_json(adapter.validate_python(built))
    by_writer = FleetJson().render(found)
    assert json.loads(by_writer) == json.loads(by_pydantic), "the writer's JSON differs"
    warm = FleetJson()
    warm.render(found)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("build FleetHostOut models", lambda: models(found)),
        ("validate and dump the models", lambda: adapter.dump_json(adapter.validate_python(built))),
        ("FleetJson, cold (every sparkline serialised)", lambda: FleetJson().render(found)),
        ("FleetJson, warm (sparklines unchanged)", lambda: warm.render(found)),
    ]
    print(f"{args.hosts} hosts, {len(by_writer):,} bytes of JSON, {args.runs} runs each")
    for name, call in cases:
        load = os.getloadavg()[0]
        median, least = timed(args.runs, call)
        print(f"{name:<48} median {median:7.1f} ms  min {least:7.1f} ms  (load {load:.2f})")


if __name__ == "__main__":
    main()
