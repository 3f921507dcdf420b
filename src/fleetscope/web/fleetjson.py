"""GET /api/v1/fleet's JSON, written without building a pydantic model per host.

The answer carries every host's sparkline (three values per point), most of its size, and
between two calls most hosts' sparklines have not changed. So the handler keeps FleetHostOut as
its documented response model and writes the same JSON itself: each host's sparkline fragment
is serialised once and reused while query/fleet.py hands back the same sparkline list (it does
until the host sends a new sample), and the rest is a small dict per host. What this costs
against the models, cold and warm: docs/dashboard.md, "The fleet JSON"
(bench/bench_fleet_json.py). tests/web/test_dashboard_api.py checks the output against FleetHostOut.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime

from fleetscope.query.fleet import FleetHost, Headline

MAX_CACHED_HOSTS = 100_000


def _datetime(value: datetime) -> str:
    """As pydantic writes an aware UTC datetime: ISO-8601 with Z."""
    return value.isoformat().replace("+00:00", "Z")


def _headline(h: Headline) -> dict[str, float | None]:
    return {
        "cpu_percent": h.cpu_percent,
        "memory_percent": h.memory_percent,
        "disk_percent": h.disk_percent,
        "network_bytes_per_second": h.network_bytes_per_second,
    }


def _spark(points: Sequence[tuple[float, Headline]]) -> str:
    return json.dumps(
        {
            "t": [t for t, _ in points],
            "cpu_percent": [v.cpu_percent for _, v in points],
            "memory_percent": [v.memory_percent for _, v in points],
            "disk_percent": [v.disk_percent for _, v in points],
        },
        separators=(",", ":"),
    )


class FleetJson:
    """Thread-safe: request threads share the fragment cache."""

    def __init__(self) -> None:
        # host id → (the sparkline list it was made from, its JSON). Holding the list keeps
        # its identity from being reused by another object.
        self._sparks: dict[int, tuple[list[tuple[float, Headline]], str]] = {}
        self._lock = threading.Lock()

    def render(self, fleet: Sequence[FleetHost]) -> bytes:
        parts = []
        with self._lock:
            sparks = self._sparks
            fresh: dict[int, tuple[list[tuple[float, Headline]], str]] = {}
            for host in fleet:
                cached = sparks.get(host.id)
                if cached is None or cached[0] is not host.spark:
                    cached = (host.spark, _spark(host.spark))
                fresh[host.id] = cached
                head = json.dumps(
                    {
                        "id": host.id,
                        "name": host.name,
                        "machine_id": host.machine_id,
                        "agent_version": host.agent_version,
                        "last_seen": _datetime(host.last_seen),
                        "status": host.status,
                        "interval_seconds": host.interval_seconds,
                        "latest": None if host.latest is None else _headline(host.latest),
                    },
                    separators=(",", ":"),
                )
                parts.append(f'{head[:-1]},"spark":{cached[1]}}}')
            # One cache for all tenants (host ids are unique); deleted hosts are dropped by
            # starting over now and then.
            if len(sparks) > MAX_CACHED_HOSTS:
                sparks.clear()
            sparks.update(fresh)
        return ("[" + ",".join(parts) + "]").encode()
