"""Every name that can be written can be read back (issue 14, item 3): `/`, spaces, `%`, `?`,
`#` and non-ASCII in a device or host name, URL-encoded in the read route; and names are
checked on write with a clear error (not empty, no control characters, no surrounding spaces,
at most MAX_NAME_LENGTH characters), for aggregator devices, pushed exposition and agents."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from fleetscope.cli.export import export_server
from fleetscope.model.names import MAX_NAME_LENGTH
from tests.helpers import T0, payload, payload_json, raw
from tests.server import ADMIN_PASSWORD, LiveServer, start_server

EPOCH = T0.timestamp()
NAMES = ["rack 3/pdu", "a/b/c", "/lead", "trail/", "50% load", "q?x#y", "стойка 3/ИБП", "x" * 255]


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def _points(live: LiveServer, name: str, metric: str) -> list[list[float]]:
    response = live.client.get(
        f"/api/v1/reports/metrics/{quote(name, safe='')}",
        params={"start_time": str(EPOCH - 60), "end_time": str(EPOCH + 60), "metrics": metric},
        headers=live.user_headers(),
    )
    assert response.status_code == 200, (name, response.text)
    body = response.json()
    assert body["device_name"] == name
    return [p for s in body["series"] for p in s["points"]]


def test_every_writable_device_name_reads_back(live: LiveServer) -> None:
    body = {
        "metrics": [
            {"device_name": n, "metric_name": "load", "value": i, "timestamp": EPOCH}
            for i, n in enumerate(NAMES)
        ]
    }
    response = live.client.post(
        "/api/v1/aggregator/metrics/batch/", json=body, headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    live.wait_digested()
    for i, name in enumerate(NAMES):
        assert _points(live, name, "load") == [[EPOCH, float(i)]]


def test_an_agent_hostname_with_a_slash_reads_back(live: LiveServer) -> None:
    p = payload(1, hostname="lab/web 1", machine_id="m-lab")
    response = live.client.post(
        "/api/v1/ingest", content=payload_json(p), headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    live.wait_digested()
    assert _points(live, "lab/web 1", "cpu_utilization_percent") == [[EPOCH, 10.0]]
    out = io.StringIO()
    export_server(
        live.client,
        device="lab/web 1",
        start=str(EPOCH - 60),
        end=str(EPOCH + 60),
        metrics="cpu_utilization_percent",
        username="admin",
        password=ADMIN_PASSWORD,
        out=out,
    )
    assert "cpu_utilization_percent" in out.getvalue()


BAD = [
    ("", "empty"),
    ("a\x00b", "control character"),
    ("tab\there", "control character"),
    ("line\nbreak", "control character"),
    ("del\x7f", "control character"),
    (" lead", "surrounding spaces"),
    ("x" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH}"),
]


@pytest.mark.parametrize("name,why", BAD, ids=[repr(b[0][:8]) for b in BAD])
def test_bad_names_are_refused_on_every_write_with_a_clear_error(
    live: LiveServer, name: str, why: str
) -> None:
    headers = live.agent_headers()
    one = live.client.post(
        "/api/v1/aggregator/metrics/",
        json={"device_name": name, "metric_name": "m", "value": 1, "timestamp": EPOCH},
        headers=headers,
    )
    assert one.status_code == 422, one.text
    assert one.json()["errors"][0]["field"] == "device_name"
    assert why in one.text
    push = live.client.post(
        "/api/v1/ingest/prometheus",
        params={"device_name": name},
        content=b"m 1\n",
        headers=live.agent_headers(**{"Content-Type": "text/plain"}),
    )
    assert push.status_code == 422, push.text
    assert why in push.text
    bad_host = raw(payload(1))
    bad_host["host"]["hostname"] = name
    agent = live.client.post("/api/v1/ingest", content=json.dumps(bad_host), headers=headers)
    assert agent.status_code == 422, agent.text
    assert "hostname" in agent.text
