"""POST /prometheus/api/v1/write in process: what a WriteRequest becomes (hosts, labels,
values, stale markers, metadata), a replay stored once, and every refusal with the status
Prometheus' retry logic expects and a message naming what was wrong. The real Prometheus
binary as the sender: tests/ingest/test_remote_write_prometheus.py."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cramjam
import pytest
from sqlalchemy import func, select

from fleetscope.ingest.prompb.remote_pb2 import MetricMetadata, WriteRequest, WriteRequestView
from fleetscope.ingest.remote_write import host_of, is_stale_marker
from fleetscope.store.tables import hosts, series_metadata
from tests.helpers import T0
from tests.server import LiveServer, start_server
from tests.snapshots import count_snapshots

WRITE = "/prometheus/api/v1/write"
MS = round(T0.timestamp() * 1000)
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def series(labels: dict[str, str], *samples: tuple[int, float]) -> dict[str, Any]:
    return {
        "labels": [{"name": k, "value": v} for k, v in labels.items()],
        "samples": [{"timestamp": t, "value": v} for t, v in samples],
    }


def write_body(*timeseries: dict[str, Any], metadata: list[dict[str, Any]] = ()) -> bytes:  # type: ignore[assignment]
    request = WriteRequest(timeseries=timeseries, metadata=metadata)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def headers(live: LiveServer, **extra: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {live.agent_key}",
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
        **extra,
    }


def report(live: LiveServer, device: str, metrics: str) -> list[dict[str, Any]]:
    live.wait_digested()
    response = live.client.get(
        f"/api/v1/reports/metrics/{device}",
        params={
            "start_time": str(T0.timestamp() - 60),
            "end_time": str(T0.timestamp() + 600),
            "metrics": metrics,
        },
        headers=live.user_headers(),
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["series"]
    return found


def count(live: LiveServer, table: Any) -> int:
    with live.server.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_series_land_on_hosts_with_their_labels_once(live: LiveServer) -> None:
    body = write_body(
        series(
            {"__name__": "node_load1", "instance": "web-1:9100", "job": "node"},
            (MS, 0.5),
            (MS + 15_000, 0.75),
        ),
        series(
            {"__name__": "http_requests_total", "instance": "web-1:8080", "code": "200"},
            (MS, 10.0),
        ),
        series({"__name__": "up", "instance": "[::1]:9100", "job": "node"}, (MS, 1.0)),
        # Recording-rule output without an instance: the default host.
        series({"__name__": "job:up:sum", "job": "node"}, (MS, 3.0)),
        # NaN is a value (stored as absent); a stale marker is no sample at all.
        series(
            {"__name__": "queue_seconds", "instance": "web-1:9100"},
            (MS, math.nan),
            (MS + 15_000, STALE),
        ),
        metadata=[
            {
                "type": MetricMetadata.COUNTER,
                "metric_family_name": "http_requests_total",
                "help": "Requests served.",
                "unit": "",
            }
        ],
    )
    for _ in range(2):  # the second is Prometheus retrying after a lost answer
        response = live.client.post(WRITE, content=body, headers=headers(live))
        assert response.status_code == 204, response.text
        assert response.headers["x-fleetscope-samples"] == "6"
        assert response.headers["x-fleetscope-skipped"] == "1"
    load = report(live, "web-1", "node_load1")
    assert [(s["labels"], s["points"]) for s in load] == [
        (
            {"instance": "web-1:9100", "job": "node"},
            [[T0.timestamp(), 0.5], [T0.timestamp() + 15, 0.75]],
        )
    ]
    [requests] = report(live, "web-1", "http_requests_total")
    assert requests["labels"] == {"code": "200", "instance": "web-1:8080"}
    assert requests["points"] == [[T0.timestamp(), 10.0]]
    [queue] = report(live, "web-1", "queue_seconds")
    assert queue["points"] == [[T0.timestamp(), None]]
    assert report(live, "::1", "up")[0]["points"] == [[T0.timestamp(), 1.0]]
    assert report(live, "prometheus", "job:up:sum")[0]["labels"] == {"job": "node"}
    with live.server.engine.connect() as conn:
        names = sorted(conn.execute(select(hosts.c.name)).scalars())
        meta = conn.execute(select(series_metadata)).one()
    assert names == ["::1", "prometheus", "web-1"]
    assert (meta.metric_family_name, meta.type, meta.help) == (
        "http_requests_total",
        "counter",
        "Requests served.",
    )
    # One frame per (host, time, metric name); the retry added none.
    assert count_snapshots(live.server.engine) == 6


def test_metadata_only_request_is_stored(live: LiveServer) -> None:
    body = write_body(
        metadata=[
            {"type": MetricMetadata.GAUGE, "metric_family_name": "node_load1", "help": "1m load"}
        ]
    )
    response = live.client.post(WRITE, content=body, headers=headers(live))
    assert response.status_code == 204, response.text
    live.wait_digested()
    with live.server.engine.connect() as conn:
        row = conn.execute(select(series_metadata)).one()
    assert (row.metric_family_name, row.type, row.help) == ("node_load1", "gauge", "1m load")
    assert count(live, hosts) == 0


def test_host_label_comes_from_settings(tmp_path: Path) -> None:
    for live in start_server(tmp_path / "data", remote_write_host_label="node"):
        body = write_body(
            series({"__name__": "up", "instance": "10.0.0.5:9100", "node": "db-2"}, (MS, 1.0))
        )
        assert live.client.post(WRITE, content=body, headers=headers(live)).status_code == 204
        [up] = report(live, "db-2", "up")
        assert up["labels"] == {"instance": "10.0.0.5:9100", "node": "db-2"}


@pytest.mark.parametrize(
    ("instance", "host"),
    [
        ("web-1:9100", "web-1"),
        ("web-1", "web-1"),
        ("10.0.0.5:9100", "10.0.0.5"),
        ("[2001:db8::1]:9100", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("web-1:http", "web-1:http"),
    ],
)
def test_host_of_instance(instance: str, host: str) -> None:
    assert host_of(instance) == host


def test_only_the_stale_nan_is_a_stale_marker() -> None:
    assert is_stale_marker(STALE)
    assert not is_stale_marker(math.nan)
    assert not is_stale_marker(1.0)


def test_refusals_name_what_was_wrong(tmp_path: Path) -> None:
    good = write_body(series({"__name__": "up", "instance": "a:1"}, (MS, 1.0)))
    for live in start_server(tmp_path / "data", max_body_bytes=4096):
        cases: list[tuple[bytes, dict[str, str], int, str]] = [
            (b"\x00not snappy at all", headers(live), 400, "not snappy-compressed"),
            (
                bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff garbage")),
                headers(live),
                400,
                "not a protobuf prometheus.WriteRequest",
            ),
            (good, headers(live, Authorization="Bearer fsk_wrong"), 401, "API key"),
            (good, headers(live, **{"Content-Type": "application/json"}), 415, "Content-Type"),
            (good, headers(live, **{"Content-Encoding": "gzip"}), 415, "Content-Encoding"),
            (
                bytes(cramjam.snappy.compress_raw(b"\x0a\x00" * 3000)),
                headers(live),
                413,
                "exceeds 4096 bytes",
            ),
            (b"\x00" * 5000, headers(live), 413, "exceeds 4096 bytes"),
            (
                write_body(series({"instance": "a:1"}, (MS, 1.0))),
                headers(live),
                400,
                "timeseries[0]: label __name__",
            ),
            (
                bytes(
                    cramjam.snappy.compress_raw(
                        WriteRequestView(
                            timeseries=[{"labels": [b"\x0a\x20cut short"]}]
                        ).SerializeToString()
                    )
                ),
                headers(live),
                400,
                "timeseries[0]: a label is not a prometheus.Label",
            ),
            (
                write_body(series({"__name__": "up"}, (MS, 1.0), (MS // 1000, 1.0))),
                headers(live),
                400,
                f"timeseries[0] up: sample timestamp {MS // 1000} ms is not between",
            ),
            (
                write_body(series({"__name__": "up", "bad-label": "x"}, (MS, 1.0))),
                headers(live),
                400,
                "label name 'bad-label'",
            ),
        ]
        for body, sent_headers, status, message in cases:
            response = live.client.post(WRITE, content=body, headers=sent_headers)
            assert response.status_code == status, (message, response.text)
            assert message in response.json()["detail"]
        assert live.server.stream.depth() == 0
        # A login session's token is known but may not send: 403.
        response = live.client.post(
            WRITE, content=good, headers={**headers(live), **live.user_headers()}
        )
        assert response.status_code == 403


def test_full_stream_is_503_with_retry_after(tmp_path: Path) -> None:
    """Prometheus 2.x retries 5xx but drops a 429 unless retry_on_http_429 is set."""
    for live in start_server(
        tmp_path / "data",
        embedded_digest=False,
        stream_max_backlog=1,
        stream_retry_after_seconds=7,
    ):
        body = write_body(series({"__name__": "up", "instance": "a:1"}, (MS, 1.0)))
        assert live.client.post(WRITE, content=body, headers=headers(live)).status_code == 204
        full = live.client.post(WRITE, content=body, headers=headers(live))
        assert full.status_code == 503
        assert full.headers["retry-after"] == "7"
        assert "digest is behind" in full.json()["detail"]
