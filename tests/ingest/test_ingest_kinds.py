"""The other payload kinds over HTTP, through digest to GET /api/v1/reports/metrics/{device},
on SQLite and PostgreSQL: aggregator samples, pushed exposition and collection files."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard
from sqlalchemy import func, select

from fleetscope.store.tables import collections, hosts
from tests.helpers import T0, payload, payload_json
from tests.server import LiveServer, start_server
from tests.snapshots import count_snapshots

AGG = "/api/v1/aggregator/metrics/"
AGG_BATCH = "/api/v1/aggregator/metrics/batch/"
PROM = "/api/v1/ingest/prometheus"
COLLECTIONS = "/api/v1/collections"
EPOCH = T0.timestamp()


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def report(live: LiveServer, device: str, metrics: str) -> list[dict[str, Any]]:
    live.wait_digested()
    response = live.client.get(
        f"/api/v1/reports/metrics/{device}",
        params={"start_time": str(EPOCH - 60), "end_time": str(EPOCH + 3600), "metrics": metrics},
        headers=live.user_headers(),
    )
    assert response.status_code == 200, response.text
    series: list[dict[str, Any]] = response.json()["series"]
    return series


def count(live: LiveServer, table: Any) -> int:
    with live.server.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def metric(device: str, name: str, value: float, at: object, **extra: object) -> dict[str, Any]:
    return {"device_name": device, "metric_name": name, "value": value, "timestamp": at, **extra}


def test_one_aggregator_metric_makes_a_device_host(live: LiveServer) -> None:
    body = metric("ups-1", "ups_load_percent", 41.5, T0.isoformat(), unit="percent")
    response = live.client.post(AGG, json=body, headers=live.agent_headers())
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "samples": 1, "devices": 1}
    (series,) = report(live, "ups-1", "ups_load_percent")
    assert series["points"] == [[EPOCH, 41.5]]
    with live.server.engine.connect() as conn:
        assert conn.execute(select(hosts.c.machine_id)).scalars().all() == ["device:ups-1"]


def test_batch_joins_an_agent_host_by_name_and_is_idempotent(live: LiveServer) -> None:
    live.client.post(
        "/api/v1/ingest", content=payload_json(payload(1)), headers=live.agent_headers()
    )
    live.wait_digested()
    batch = {
        "metrics": [
            metric("web-1", "app_queue_depth", 3, EPOCH, labels={"queue": "mail"}),
            metric("web-1", "app_queue_depth", 5, EPOCH, labels={"queue": "sms"}),
            metric("web-1", "app_queue_depth", 4, str(EPOCH + 10), labels={"queue": "mail"}),
            metric("switch-7", "port_up", 1, "2026-11-22T08:00:00Z", labels={"port": "1"}),
        ]
    }
    for _ in range(2):  # the second is a replay: nothing is stored twice
        response = live.client.post(AGG_BATCH, json=batch, headers=live.agent_headers())
        assert response.status_code == 202, response.text
        assert response.json()["samples"] == 4
    series = report(live, "web-1", "app_queue_depth")
    assert [(s["labels"], s["points"]) for s in series] == [
        ({"queue": "mail"}, [[EPOCH, 3.0], [EPOCH + 10, 4.0]]),
        ({"queue": "sms"}, [[EPOCH, 5.0]]),
    ]
    assert count(live, hosts) == 2  # web-1 (the agent's) and switch-7
    # The agent's frame, web-1's two timestamps, switch-7's one.
    assert count_snapshots(live.server.engine) == 4


@pytest.mark.parametrize(
    "content_type", ["text/plain; version=0.0.4", "application/openmetrics-text; version=1.0.0"]
)
def test_pushed_exposition_is_readable_back(live: LiveServer, content_type: str) -> None:
    text = '# TYPE temp_celsius gauge\ntemp_celsius{sensor="a"} 21.5\n'
    if content_type.startswith("application/openmetrics"):
        text += "# EOF\n"
    response = live.client.post(
        PROM,
        params={"device_name": "edge-1", "timestamp": T0.isoformat()},
        content=text,
        headers=live.agent_headers(**{"Content-Type": content_type}),
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "samples": 1, "device_name": "edge-1"}
    (series,) = report(live, "edge-1", "temp_celsius")
    assert (series["labels"], series["points"]) == ({"sensor": "a"}, [[EPOCH, 21.5]])


def collection_file(n_lines: int = 2) -> bytes:
    return b"".join(
        payload_json(payload(2, start=T0.replace(minute=i))) + b"\n" for i in range(n_lines)
    )


def test_collection_upload_is_recorded_ingested_and_idempotent(live: LiveServer) -> None:
    data = collection_file()
    response = live.client.post(
        COLLECTIONS,
        content=data,
        headers=live.agent_headers(**{"Content-Type": "application/x-ndjson"}),
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["payloads"], answer["snapshots"], answer["bytes"]) == (2, 4, len(data))
    assert answer["first_timestamp"] == T0.isoformat()
    again = live.client.post(
        COLLECTIONS,
        files={"file": ("web-1.jsonl", data, "application/x-ndjson")},
        headers={"Authorization": f"Bearer {live.agent_key}"},
    )
    assert again.status_code == 202, again.text
    assert again.json()["collection"] == answer["collection"]
    (series,) = report(live, "web-1", "cpu_utilization_percent")
    assert [p[0] - EPOCH for p in series["points"]] == [0, 10, 60, 70]
    with live.server.engine.connect() as conn:
        (row,) = conn.execute(select(collections)).all()
    assert (row.snapshots, row.bytes, row.uploaded_by) == (4, len(data), "initial agent key")
    assert (row.first_ts_ms, row.last_ts_ms) == (EPOCH * 1000, (EPOCH + 70) * 1000)
    stats = live.server.digest.stats
    assert (stats.batches_written, stats.batches_duplicate) == (2, 2)


def test_compressed_bodies(live: LiveServer) -> None:
    body = json.dumps(metric("d", "m", 1, EPOCH)).encode()
    for encoding, packed in (
        ("gzip", gzip.compress(body)),
        ("zstd", zstandard.ZstdCompressor().compress(body)),
    ):
        response = live.client.post(
            AGG, content=packed, headers=live.agent_headers(**{"Content-Encoding": encoding})
        )
        assert response.status_code == 202, response.text


# --- errors ------------------------------------------------------------------------------

# endpoint, params, Content-Type, a valid body
VALID: dict[str, tuple[dict[str, str], str, bytes]] = {
    AGG: ({}, "application/json", json.dumps(metric("d", "m", 1, EPOCH)).encode()),
    AGG_BATCH: (
        {},
        "application/json",
        json.dumps({"metrics": [metric("d", "m", 1, EPOCH)]}).encode(),
    ),
    PROM: ({"device_name": "d"}, "text/plain", b"m 1\n"),
    COLLECTIONS: ({}, "application/x-ndjson", collection_file(1)),
}
ENDPOINTS = list(VALID)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_errors_per_endpoint(live: LiveServer, endpoint: str) -> None:
    params, content_type, body = VALID[endpoint]

    def post(content: bytes, **headers: str) -> Any:
        all_headers = live.agent_headers(**{"Content-Type": content_type}) | headers
        return live.client.post(endpoint, params=params, content=content, headers=all_headers)

    unauthorized = live.client.post(
        endpoint, params=params, content=body, headers={"Content-Type": content_type}
    )
    assert unauthorized.status_code == 401 and "API key" in unauthorized.json()["detail"]
    wrong_type = post(body, **{"Content-Type": "application/xml"})
    assert wrong_type.status_code == 415 and "application/xml" in wrong_type.json()["detail"]
    bad_encoding = post(b"\x1f\x8bnot gzip", **{"Content-Encoding": "gzip"})
    assert bad_encoding.status_code == 400
    assert live.server.stream.depth() == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_503_when_the_stream_is_down(live: LiveServer, endpoint: str) -> None:
    params, content_type, body = VALID[endpoint]
    live.server.stream.close()
    response = live.client.post(
        endpoint,
        params=params,
        content=body,
        headers=live.agent_headers(**{"Content-Type": content_type}),
    )
    assert response.status_code == 503 and "stream" in response.json()["detail"]


def test_413_per_endpoint(tmp_path: Path) -> None:
    for small in start_server(tmp_path / "d", max_body_bytes=1024):
        for endpoint, (params, content_type, body) in VALID.items():
            big = body + b" " * 1100 if endpoint != PROM else body + b"# " + b"x" * 1100 + b"\n"
            response = small.client.post(
                endpoint,
                params=params,
                content=big,
                headers=small.agent_headers(**{"Content-Type": content_type}),
            )
            assert response.status_code == 413, endpoint
            assert "1024" in response.json()["detail"]


def test_422_says_where(live: LiveServer) -> None:
    headers = live.agent_headers()
    one = live.client.post(AGG, json=metric("d", "bad\x00name", 1, EPOCH), headers=headers)
    assert one.status_code == 422
    assert [d["field"] for d in one.json()["errors"]] == ["metric_name"]
    batch = {"metrics": [metric("d", "m", 1, EPOCH), metric("d", "m", "NaN", "yesterday")]}
    many = live.client.post(AGG_BATCH, json=batch, headers=headers)
    assert many.status_code == 422
    assert {d["field"] for d in many.json()["errors"]} == {
        "metrics.1.value",
        "metrics.1.timestamp",
    }
    labels = live.client.post(
        AGG, json=metric("d", "m", 1, EPOCH, labels={"__name__": "x"}), headers=headers
    )
    assert labels.status_code == 422 and labels.json()["errors"][0]["field"] == "labels"
    naive = live.client.post(AGG, json=metric("d", "m", 1, "2026-11-22T08:00:00"), headers=headers)
    assert naive.status_code == 422 and "offset" in naive.json()["errors"][0]["message"]

    text_headers = live.agent_headers(**{"Content-Type": "text/plain"})
    bad_text = live.client.post(
        PROM, params={"device_name": "d"}, content=b"ok 1\nbad{ 2\n", headers=text_headers
    )
    assert bad_text.status_code == 422 and bad_text.json()["line"] == 2
    huge = live.client.post(  # an integer too large for a float was a 500 (OverflowError)
        PROM,
        params={"device_name": "d"},
        content=b"ok 1" + b"0" * 400 + b"\n",
        headers=text_headers,
    )
    assert huge.status_code == 422 and huge.json()["line"] == 1
    no_device = live.client.post(PROM, content=b"ok 1\n", headers=text_headers)
    assert no_device.status_code == 422
    assert no_device.json()["errors"][0]["field"] == "query.device_name"

    lines = collection_file(3).splitlines()
    broken = b"\n".join([lines[0], lines[1][:-5], lines[2]]) + b"\n"
    ndjson = live.agent_headers(**{"Content-Type": "application/x-ndjson"})
    bad_line = live.client.post(COLLECTIONS, content=broken, headers=ndjson)
    assert bad_line.status_code == 422
    assert bad_line.json()["line"] == 2 and "line 2" in bad_line.json()["detail"]
    other_host = payload_json(payload(1, hostname="db-1", machine_id="m-db-1"))
    mixed = live.client.post(COLLECTIONS, content=lines[0] + b"\n" + other_host, headers=ndjson)
    assert mixed.status_code == 422 and mixed.json()["line"] == 2
    empty = live.client.post(COLLECTIONS, content=b"\n", headers=ndjson)
    assert empty.status_code == 422
    live.wait_digested()
    assert count(live, collections) == 0


def test_a_batch_only_the_lax_models_read_is_stored(live: LiveServer) -> None:
    """A value sent as a numeric string is not the fast decoder's (model/aggregator.py):
    ingest and digest both fall back to the pydantic models, which read it."""
    sample = {**metric("ups-2", "ups_load_percent", 0, EPOCH), "value": "41.5"}
    batch = {"metrics": [sample]}
    response = live.client.post(AGG_BATCH, json=batch, headers=live.agent_headers())
    assert response.status_code == 202, response.text
    (series,) = report(live, "ups-2", "ups_load_percent")
    assert series["points"] == [[EPOCH, 41.5]]


def test_a_zstd_batch_is_kept_as_received_and_stored(live: LiveServer) -> None:
    """A batch sent zstd-compressed goes into the stream as it came; a plain one is
    compressed there (stream/bodies.py); digest reads both."""
    for n in range(2):
        body = json.dumps({"metrics": [metric("ups-3", "load", float(n), EPOCH + n)]}).encode()
        if n == 0:
            content, extra = zstandard.ZstdCompressor().compress(body), {"Content-Encoding": "zstd"}
        else:
            content, extra = body, {}
        response = live.client.post(AGG_BATCH, content=content, headers=live.agent_headers(**extra))
        assert response.status_code == 202, response.text
    (series,) = report(live, "ups-3", "load")
    assert series["points"] == [[EPOCH, 0.0], [EPOCH + 1, 1.0]]
