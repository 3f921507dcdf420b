"""A client that retries a request (its answer lost) sends the same body again: what it holds
is stored once, whatever else was digested with the first copy. A write call stores a
device's snapshots of one layout as chunks keyed by their first time (store/chunk_writes.py),
so the frame keys alone do not catch a replay whose first copy went into a chunk with an
earlier request's snapshots; the body's own id (ingested_batches) does. Every door whose
requests carry no batch id of their own: aggregator batches, exposition pushes with
?timestamp=, Prometheus remote_write (its queue resends the same bytes) and OTLP exports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cramjam
import pytest

from fleetscope.ingest.prompb.remote_pb2 import WriteRequest
from tests.helpers import T0
from tests.server import LiveServer, start_server
from tests.snapshots import count_snapshots

EPOCH = T0.timestamp()


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    # Digest driven by the test, so that two requests are digested in one write call.
    yield from start_server(tmp_path / "data", database_url=database_url, embedded_digest=False)


def digest(live: LiveServer) -> None:
    while live.server.digest.run_once(block_seconds=0):
        pass
    assert live.server.stream.depth() == 0


def aggregator_batch(live: LiveServer, at: float) -> None:
    body: dict[str, Any] = {
        "metrics": [
            {
                "device_name": "rack-3",
                "metric_name": name,
                "value": value,
                "timestamp": at,
                "labels": {"region": "eu-west-1", "rack": "3"},
            }
            for name, value in (("cpu_usage_user", 12.5), ("mem_used_percent", 61.0))
        ]
    }
    response = live.client.post(
        "/api/v1/aggregator/metrics/batch/", json=body, headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text


def exposition_push(live: LiveServer, at: float) -> None:
    """With ?timestamp=, the retry the API's docs tell pushers to make safe."""
    response = live.client.post(
        "/api/v1/ingest/prometheus",
        params={"device_name": "edge-1", "timestamp": str(at)},
        content=f'temp_celsius{{sensor="a"}} {at % 100}\n',
        headers=live.agent_headers(**{"Content-Type": "text/plain; version=0.0.4"}),
    )
    assert response.status_code == 202, response.text


def remote_write(live: LiveServer, at: float) -> None:
    request = WriteRequest(
        timeseries=[
            {
                "labels": [
                    {"name": "__name__", "value": "node_load1"},
                    {"name": "instance", "value": "web-1:9100"},
                    {"name": "job", "value": "node"},
                ],
                "samples": [{"timestamp": round(at * 1000), "value": at % 100}],
            }
        ]
    )
    response = live.client.post(
        "/prometheus/api/v1/write",
        content=bytes(cramjam.snappy.compress_raw(request.SerializeToString())),
        headers=live.agent_headers(
            **{
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            }
        ),
    )
    assert response.status_code == 204, response.text


def otlp_export(live: LiveServer, at: float) -> None:
    point = {"timeUnixNano": str(round(at * 1e9)), "asDouble": at % 100}
    body = {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [{"key": "host.name", "value": {"stringValue": "otel-1"}}]
                },
                "scopeMetrics": [
                    {"metrics": [{"name": "room.temperature", "gauge": {"dataPoints": [point]}}]}
                ],
            }
        ]
    }
    response = live.client.post(
        "/v1/metrics", json=body, headers=live.agent_headers(**{"Content-Type": "application/json"})
    )
    assert response.status_code == 200, response.text


SENDERS: dict[str, Callable[[LiveServer, float], None]] = {
    "aggregator": aggregator_batch,
    "exposition_push": exposition_push,
    "remote_write": remote_write,
    "otlp": otlp_export,
}


@pytest.mark.parametrize("door", sorted(SENDERS))
def test_a_replayed_request_is_stored_once(live: LiveServer, door: str) -> None:
    send = SENDERS[door]
    send(live, EPOCH)
    send(live, EPOCH + 10)
    digest(live)  # both in one write call: one chunk from EPOCH holds both times
    assert count_snapshots(live.server.engine) == 2
    send(live, EPOCH + 10)  # the client's retry of the second request
    digest(live)
    assert count_snapshots(live.server.engine) == 2


@pytest.mark.parametrize("door", sorted(SENDERS))
def test_a_replay_in_the_same_write_call_is_stored_once(live: LiveServer, door: str) -> None:
    send = SENDERS[door]
    send(live, EPOCH)
    send(live, EPOCH + 10)
    send(live, EPOCH + 10)
    digest(live)
    assert count_snapshots(live.server.engine) == 2
