"""POST /v1/metrics with the real OpenTelemetry Python SDK as the client: its OTLP/HTTP
exporter (protobuf, gzip) against a real `fleetscope server` process, and the same SDK's
data as OTLP JSON. Gauges, cumulative and delta sums, histograms, resource attributes to
hosts, dotted names translated, metadata, partial success and every refusal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import MessageToJson
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from tests.helpers import free_port
from tests.processes import credentials, login, running, wait_ready

pytestmark = pytest.mark.slow
HOUR_MS = 3_600_000


@dataclass
class Server:
    base: str
    key: str
    user: dict[str, str]
    data_dir: Path

    def auth(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def series(self, host: str, metric: str, minimum: int = 1) -> list[dict[str, Any]]:
        """The host's series of one metric over the last hour, once at least `minimum`
        points have been digested (bounded wait; none with minimum=0)."""
        found: list[dict[str, Any]] = []
        for _ in range(100 if minimum else 1):
            response = httpx.get(
                f"{self.base}/api/v1/reports/metrics/{host}",
                params={"start_time": str(time.time() - 3600), "metrics": metric},
                headers=self.user,
            )
            if response.status_code == 200:
                found = response.json()["series"]
                if sum(len(s["points"]) for s in found) >= minimum:
                    return found
            time.sleep(0.1)
        return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("otlp") / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"FLEETSCOPE_ADMIN_PASSWORD": "pw", "FLEETSCOPE_MAX_BODY_BYTES": "65536"}
    with running(["server", "--data-dir", str(data_dir), "--port", str(port)], data_dir, env) as p:
        wait_ready(base, p)
        yield Server(base, credentials(data_dir)["agent_api_key"], login(base, "pw"), data_dir)


def provider(reader: Any, host: str) -> MeterProvider:
    resource = Resource.create(
        {"host.name": host, "service.name": "checkout", "service.instance.id": "i-1"}
    )
    return MeterProvider(resource=resource, metric_readers=[reader])


def exporter(server: Server, **extra: Any) -> OTLPMetricExporter:
    return OTLPMetricExporter(
        endpoint=f"{server.base}/v1/metrics",
        headers=server.auth(),
        compression=Compression.Gzip,
        **extra,
    )


def record(meter_provider: MeterProvider) -> tuple[Any, Any]:
    meter = meter_provider.get_meter("shop")
    requests = meter.create_counter("http.server.requests", unit="1", description="Requests")
    depth = meter.create_up_down_counter("queue.depth")
    duration = meter.create_histogram("request.duration", unit="s")

    def temperature(_: CallbackOptions) -> list[Observation]:
        return [Observation(42.5, {"sensor": "cpu"})]

    meter.create_observable_gauge("cpu.temp", callbacks=[temperature])
    requests.add(5, {"http.method": "GET"})
    depth.add(3)
    for value in (0.004, 2.5, 7.5, 7.5):
        duration.record(value)
    return requests, duration


def values(series: list[dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], list[Any]]:
    return {tuple(sorted(s["labels"].items())): [v for _, v in s["points"]] for s in series}


JOB = ("job", "checkout")
INSTANCE = ("instance", "i-1")


def test_sdk_protobuf_export_is_stored(server: Server) -> None:
    reader = PeriodicExportingMetricReader(exporter(server), export_interval_millis=HOUR_MS)
    meter_provider = provider(reader, "otel-proto")
    requests, _ = record(meter_provider)
    assert meter_provider.force_flush()
    requests.add(7, {"http.method": "GET"})
    assert meter_provider.force_flush()
    meter_provider.shutdown()
    # Three exports: two flushes and the one shutdown makes.
    counter = server.series("otel-proto", "http_server_requests_total", minimum=3)
    assert values(counter) == {(("http_method", "GET"), INSTANCE, JOB): [5.0, 12.0, 12.0]}
    assert values(server.series("otel-proto", "queue_depth", 3)) == {(INSTANCE, JOB): [3.0] * 3}
    temperature = values(server.series("otel-proto", "cpu_temp", 3))
    assert temperature == {(INSTANCE, JOB, ("sensor", "cpu")): [42.5] * 3}
    buckets = values(server.series("otel-proto", "request_duration_bucket", 3))
    # The SDK's default bounds 0, 5, 10, 25, ... as Go writes them in `le`.
    assert buckets[(INSTANCE, JOB, ("le", "0"))] == [0.0] * 3
    assert buckets[(INSTANCE, JOB, ("le", "5"))] == [2.0] * 3
    assert buckets[(INSTANCE, JOB, ("le", "10"))] == [4.0] * 3
    assert buckets[(INSTANCE, JOB, ("le", "+Inf"))] == [4.0] * 3
    count = values(server.series("otel-proto", "request_duration_count", 3))
    assert count == {(INSTANCE, JOB): [4.0] * 3}
    [total] = server.series("otel-proto", "request_duration_sum", 3)
    assert total["points"][0][1] == pytest.approx(17.504)
    metrics = httpx.get(f"{server.base}/metrics").text
    assert 'fleetscope_ingest_payloads_rejected_total{reason="invalid"}' not in metrics


def test_sdk_delta_temporality_is_stored_per_interval(server: Server) -> None:
    delta = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
    reader = PeriodicExportingMetricReader(
        exporter(server, preferred_temporality=delta), export_interval_millis=HOUR_MS
    )
    meter_provider = provider(reader, "otel-delta")
    requests, _ = record(meter_provider)
    assert meter_provider.force_flush()
    requests.add(2, {"http.method": "GET"})
    assert meter_provider.force_flush()
    meter_provider.shutdown()
    # Each interval's increase, under the name without _total: no counter.
    assert values(server.series("otel-delta", "http_server_requests", 2)) == {
        (("http_method", "GET"), INSTANCE, JOB): [5.0, 2.0]
    }
    assert server.series("otel-delta", "http_server_requests_total", minimum=0) == []


def sdk_request(host: str) -> ExportMetricsServiceRequest:
    reader = InMemoryMetricReader()
    meter_provider = provider(reader, host)
    record(meter_provider)
    data = reader.get_metrics_data()
    meter_provider.shutdown()
    assert data is not None
    return encode_metrics(data)


def test_otlp_json_is_stored_and_answered_in_json(server: Server) -> None:
    body = MessageToJson(sdk_request("otel-json"))
    response = httpx.post(
        f"{server.base}/v1/metrics",
        content=body,
        headers=server.auth(**{"Content-Type": "application/json"}),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    counter = server.series("otel-json", "http_server_requests_total")
    assert values(counter) == {(("http_method", "GET"), INSTANCE, JOB): [5.0]}
    buckets = values(server.series("otel-json", "request_duration_bucket"))
    assert buckets[(INSTANCE, JOB, ("le", "10"))] == [4.0]


def test_unsupported_points_are_a_partial_success(server: Server) -> None:
    request = sdk_request("otel-partial")
    metrics = request.resource_metrics[0].scope_metrics[0].metrics
    exponential = metrics.add(name="latency.exp")
    point = exponential.exponential_histogram.data_points.add(time_unix_nano=1, count=1)
    point.positive.bucket_counts.append(1)
    response = httpx.post(
        f"{server.base}/v1/metrics",
        content=request.SerializeToString(),
        headers=server.auth(**{"Content-Type": "application/x-protobuf"}),
    )
    assert response.status_code == 200, response.text
    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_data_points == 1
    assert "exponential_histogram" in answer.partial_success.error_message
    temperature = values(server.series("otel-partial", "cpu_temp"))
    assert temperature == {(INSTANCE, JOB, ("sensor", "cpu")): [42.5]}


@pytest.mark.parametrize(
    ("body", "content_type", "key", "status", "message"),
    [
        (b"\xff\xff\xff", "application/x-protobuf", True, 400, "not an OTLP"),
        (b"{not json", "application/json", True, 400, "in JSON"),
        (b"{}", "application/x-protobuf", False, 401, "API key"),
        (b"x" * 70_000, "application/x-protobuf", True, 413, "exceeds 65536 bytes"),
        (b"a 1\n", "text/plain", True, 415, "Content-Type must be"),
    ],
)
def test_refusals_are_status_messages(  # noqa: PLR0917 (parametrized)
    server: Server, body: bytes, content_type: str, key: bool, status: int, message: str
) -> None:
    headers = {"Content-Type": content_type}
    if key:
        headers = server.auth(**headers)
    response = httpx.post(f"{server.base}/v1/metrics", content=body, headers=headers)
    assert response.status_code == status, response.text
    if content_type == "application/json":
        assert message in response.json()["message"]
    else:
        assert message in Status.FromString(response.content).message
