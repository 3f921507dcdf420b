"""Ingest and the reporting API over HTTP, against the real app on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from fleetscope.model.schema import SCHEMA_FILE
from tests.helpers import T0, payload, payload_json, raw
from tests.server import LiveServer, start_server


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """The real server app, in process, on SQLite or PostgreSQL (conftest's `live` is SQLite)."""
    yield from start_server(tmp_path / "data", database_url=database_url)


def test_accepted_payload_is_readable_back(live: LiveServer) -> None:
    p = payload(3, hostname="web-1")
    response = live.client.post(
        "/api/v1/ingest", content=payload_json(p), headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "batch_id": str(p.batch_id), "snapshots": 3}
    live.wait_digested()
    user = live.user_headers()
    hosts = live.client.get("/api/v1/hosts", headers=user).json()
    assert [(h["name"], h["machine_id"]) for h in hosts] == [("web-1", "m-web-1")]
    assert {"id", "name", "last_seen"} <= hosts[0].keys()
    report = live.client.get(
        "/api/v1/reports/metrics/web-1",
        params={
            "start_time": T0.isoformat(),
            "end_time": str(T0.timestamp() + 30),
            "metrics": "cpu_utilization_percent",
        },
        headers=user,
    )
    assert report.status_code == 200, report.text
    (series,) = report.json()["series"]
    assert series["metric"] == "cpu_utilization_percent"
    assert series["points"] == [[T0.timestamp() + 10 * i, 10.0 + i] for i in range(3)]


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_compressed_bodies_are_accepted(live: LiveServer, encoding: str) -> None:
    body = payload_json(payload(2))
    packed = (
        gzip.compress(body) if encoding == "gzip" else zstandard.ZstdCompressor().compress(body)
    )
    response = live.client.post(
        "/api/v1/ingest",
        content=packed,
        headers=live.agent_headers(**{"Content-Encoding": encoding}),
    )
    assert response.status_code == 202, response.text


def test_a_resent_batch_is_stored_once(live: LiveServer) -> None:
    body = payload_json(payload(3))
    for _ in range(3):
        assert (
            live.client.post(
                "/api/v1/ingest", content=body, headers=live.agent_headers()
            ).status_code
            == 202
        )
    live.wait_digested()
    stats = live.server.digest.stats
    assert (stats.batches_written, stats.batches_duplicate) == (1, 2)


@pytest.mark.parametrize("key", [None, "Bearer wrong", "Basic abc", "Bearer "])
def test_wrong_key_is_401(live: LiveServer, key: str | None) -> None:
    headers = {"Content-Type": "application/json"} | ({"Authorization": key} if key else {})
    response = live.client.post("/api/v1/ingest", content=payload_json(payload(1)), headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]
    assert live.server.stream.depth() == 0


def test_a_login_session_may_read_but_not_send(live: LiveServer) -> None:
    # Known but not allowed: 403 on every ingest endpoint, and nothing enqueued.
    user = live.user_headers()
    sends = [
        ("/api/v1/ingest", payload_json(payload(1)), "application/json"),
        ("/api/v1/ingest/prometheus?host=web-1", b"up 1\n", "text/plain"),
        (
            "/api/v1/aggregator/metrics/",
            b'{"device_name":"d","metric_name":"m","value":1,"timestamp":1795852800}',
            "application/json",
        ),
    ]
    for path, body, media in sends:
        response = live.client.post(path, content=body, headers=user | {"Content-Type": media})
        assert response.status_code == 403, (path, response.text)
        assert "agent API key" in response.json()["detail"]
    assert live.server.stream.depth() == 0


def test_oversized_body_is_413(tmp_path: Path) -> None:
    for small in start_server(tmp_path / "d", max_body_bytes=4096):
        big = payload_json(payload(40))
        assert len(big) > 4096
        response = small.client.post("/api/v1/ingest", content=big, headers=small.agent_headers())
        assert response.status_code == 413
        assert "4096" in response.json()["detail"]
        # A small compressed body that expands past the limit is refused too (a zip bomb).
        bomb = gzip.compress(b"{" + b" " * 100_000 + b"}")
        response = small.client.post(
            "/api/v1/ingest",
            content=bomb,
            headers=small.agent_headers(**{"Content-Encoding": "gzip"}),
        )
        assert response.status_code == 413


def test_malformed_json_is_422_with_position(live: LiveServer) -> None:
    response = live.client.post(
        "/api/v1/ingest", content=b'{"schema_version": 1,,}', headers=live.agent_headers()
    )
    assert response.status_code == 422
    (detail,) = response.json()["errors"]
    assert detail["field"] == "(body)" and "malformed" in detail["message"]


def test_schema_violation_is_422_naming_the_field(live: LiveServer) -> None:
    data = raw(payload(2))
    data["snapshots"][1]["memory"]["used_bytes"] = "lots"
    response = live.client.post(
        "/api/v1/ingest", content=json.dumps(data), headers=live.agent_headers()
    )
    assert response.status_code == 422
    fields = [d["field"] for d in response.json()["errors"]]
    assert fields == ["snapshots.1.memory.used_bytes"]


@pytest.mark.parametrize(
    ("mutate", "field", "kind", "words"),
    [
        (
            lambda d: d["snapshots"][0].update(timestamp="2026-11-22T08:00:00"),
            "snapshots.0.timestamp",
            "invalid",
            "timezone",
        ),
        (
            lambda d: d["snapshots"][0].update(timestamp="1999-12-31T23:59:59Z"),
            "snapshots.0.timestamp",
            "value_error",
            "between the years 2000 and 2200",
        ),
        (lambda d: d["host"].pop("machine_id"), "host.machine_id", "missing", "missing"),
    ],
)
def test_422_details_name_the_field_and_say_why(
    live: LiveServer, mutate: Callable[[dict[str, Any]], object], field: str, kind: str, words: str
) -> None:
    data = raw(payload(1))
    mutate(data)
    response = live.client.post(
        "/api/v1/ingest", content=json.dumps(data), headers=live.agent_headers()
    )
    assert response.status_code == 422
    (detail,) = response.json()["errors"]
    # The kind (extra_forbidden, missing...) is PayloadError.type; the 422 names field and why.
    assert detail["field"] == field and kind
    assert words in detail["message"]


def test_wrong_media_type_and_encoding(live: LiveServer) -> None:
    body = payload_json(payload(1))
    response = live.client.post(
        "/api/v1/ingest", content=body, headers=live.agent_headers(**{"Content-Type": "text/plain"})
    )
    assert response.status_code == 415
    response = live.client.post(
        "/api/v1/ingest", content=body, headers=live.agent_headers(**{"Content-Encoding": "br"})
    )
    assert response.status_code == 400 and "br" in response.json()["detail"]
    response = live.client.post(
        "/api/v1/ingest",
        content=b"\x1f\x8bnot gzip",
        headers=live.agent_headers(**{"Content-Encoding": "gzip"}),
    )
    assert response.status_code == 400


def test_report_errors(live: LiveServer) -> None:
    user = live.user_headers()
    live.client.post(
        "/api/v1/ingest", content=payload_json(payload(1)), headers=live.agent_headers()
    )
    live.wait_digested()
    missing = live.client.get(
        "/api/v1/reports/metrics/nope", params={"start_time": "0"}, headers=user
    )
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    reversed_range = live.client.get(
        "/api/v1/reports/metrics/web-1",
        params={"start_time": "2026-11-23", "end_time": "2026-11-22"},
        headers=user,
    )
    assert reversed_range.status_code == 400 and "before" in reversed_range.json()["detail"]
    garbage = live.client.get(
        "/api/v1/reports/metrics/web-1", params={"start_time": "yesterday"}, headers=user
    )
    assert garbage.status_code == 400 and "ISO-8601" in garbage.json()["detail"]
    no_start = live.client.get("/api/v1/reports/metrics/web-1", headers=user)
    assert no_start.status_code == 400


def test_read_endpoints_need_a_login(live: LiveServer) -> None:
    assert live.client.get("/api/v1/hosts").status_code == 401
    agent_key_is_not_a_session = live.client.get(
        "/api/v1/hosts", headers={"Authorization": f"Bearer {live.agent_key}"}
    )
    assert agent_key_is_not_a_session.status_code == 403  # known, but agents only send
    bad = live.client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    assert bad.status_code == 401


def test_schema_endpoint_serves_the_committed_schema(live: LiveServer) -> None:
    assert live.client.get("/api/v1/schema/payload").json() == json.loads(SCHEMA_FILE.read_text())


def test_health_and_metrics(live: LiveServer) -> None:
    assert live.client.get("/livez").json() == {"status": "ok"}
    assert live.client.get("/readyz").json() == {"status": "ready", "dead_letters": 0}
    live.client.post(
        "/api/v1/ingest", content=payload_json(payload(2)), headers=live.agent_headers()
    )
    live.client.post("/api/v1/ingest", content=b"{}", headers=live.agent_headers())
    live.wait_digested()
    text = live.client.get("/metrics").text
    assert "fleetscope_ingest_payloads_accepted_total 1.0" in text
    assert 'fleetscope_ingest_payloads_rejected_total{reason="invalid"} 1.0' in text
    assert "fleetscope_stream_depth 0.0" in text
    assert "fleetscope_digest_lag_seconds 0.0" in text
    assert "fleetscope_digest_batch_seconds_count" in text
    assert 'route="/api/v1/ingest"' in text


def test_readyz_reports_a_broken_stream(live: LiveServer) -> None:
    live.server.stream.close()
    response = live.client.get("/readyz")
    assert response.status_code == 503 and "stream" in response.json()["down"]
    refused = live.client.post(
        "/api/v1/ingest", content=payload_json(payload(1)), headers=live.agent_headers()
    )
    assert refused.status_code == 503
