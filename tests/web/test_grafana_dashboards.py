"""deploy/grafana's dashboards use only what /prometheus answers: every expression in them
(and the host variable's label_values query) runs against a test server holding a real
snapshot's series for two hosts, and succeeds with data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers import T0
from tests.server import LiveServer

DASHBOARDS = sorted((REPO_ROOT / "deploy" / "grafana").glob("*.json"))
SNAPSHOT = REPO_ROOT / "bench" / "data" / "vm-snapshot-pair.json"
HOSTS = ("web-a", "web-b")
STEPS = 40  # 10 s apart
API = "/prometheus/api/v1"


def _expressions(dashboard: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(panel title, expression, instant?) for every target of every panel."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found.append((panel["title"], target["expr"], bool(target.get("instant"))))
    return found


def _push(live: LiveServer) -> None:
    pair = json.loads(SNAPSHOT.read_text())
    start_ms = int(T0.timestamp() * 1000)
    for h, host in enumerate(HOSTS):
        lines = []
        for key, first, last in pair["series"]:
            if first is None or last is None:
                continue
            for i in range(STEPS):
                value = first + (last - first) * i / (STEPS - 1) * (1 + h)
                lines.append(f"{key} {value!r} {start_ms + 10_000 * i}")
        response = live.client.post(
            "/api/v1/ingest/prometheus",
            params={"device_name": host},
            content="\n".join(lines) + "\n",
            headers=live.agent_headers(**{"Content-Type": "text/plain; version=0.0.4"}),
        )
        assert response.status_code == 202, response.text
    live.wait_digested()


def _concrete(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace("$host", HOSTS[0])


def test_there_are_the_two_dashboards() -> None:
    assert [p.name for p in DASHBOARDS] == ["fleet-overview.json", "host.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_query_runs_against_fleetscope(live: LiveServer, path: Path) -> None:
    dashboard = json.loads(path.read_text())
    _push(live)
    headers = live.user_headers()
    start = T0.timestamp() + 120
    end = T0.timestamp() + 10 * (STEPS - 1)
    for variable in dashboard["templating"]["list"]:
        match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"])
        assert match, variable
        response = live.client.get(
            f"{API}/label/{match[2]}/values",
            params={"match[]": match[1], "start": str(start), "end": str(end)},
            headers=headers,
        )
        assert response.json() == {"status": "success", "data": list(HOSTS)}
    expressions = _expressions(dashboard)
    assert expressions
    for title, expr, instant in expressions:
        if instant:
            params = {"query": _concrete(expr), "time": str(end)}
            response = live.client.post(f"{API}/query", data=params, headers=headers)
        else:
            params = {"query": _concrete(expr), "start": str(start), "end": str(end), "step": "15"}
            response = live.client.post(f"{API}/query_range", data=params, headers=headers)
        body = response.json()
        assert response.status_code == 200, (title, expr, body)
        assert body["status"] == "success", (title, expr, body)
        # Panels that list failures are empty when nothing fails; every other one has data.
        if "fail" not in title.lower():
            assert body["data"]["result"], (title, expr)
