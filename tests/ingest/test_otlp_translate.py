"""The pure OTLP -> series translation (ingest/otlp_translate.py) and the name rules
(model/samples.py), on hand-built requests: what the SDK tests do not reach."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from fleetscope.digest.transform import samples_rows
from fleetscope.ingest.otlp_translate import go_float, translate
from fleetscope.model.samples import (
    decode_samples,
    encode_samples,
    prometheus_label_name,
    prometheus_metric_name,
)

NS = 1_796_000_000_000 * 1_000_000  # a time in ns, whole milliseconds
MS = NS // 1_000_000


@pytest.mark.parametrize(
    ("name", "translated"),
    [
        ("node_load1", "node_load1"),
        ("http.server.duration", "http_server_duration"),
        ("system.cpu.utilization%", "system_cpu_utilization_"),
        ("a..b", "a_b"),
        ("1st.metric", "_1st_metric"),
        ("ns:rule", "ns:rule"),
        ("température", "temp_rature"),
    ],
)
def test_metric_names(name: str, translated: str) -> None:
    assert prometheus_metric_name(name) == translated


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("http.method", "http_method"),
        ("ns:x", "ns_x"),
        ("__secret", "_secret"),
        ("9lives", "key_9lives"),
    ],
)
def test_label_names(key: str, label: str) -> None:
    assert prometheus_label_name(key) == label


@pytest.mark.parametrize(
    ("bound", "text"),
    [
        (0.0, "0"),
        (5.0, "5"),
        (0.025, "0.025"),
        (1e-05, "0.00001"),
        (1e21, "1000000000000000000000"),
        (float("inf"), "+Inf"),
    ],
)
def test_bucket_bounds_as_go_writes_them(bound: float, text: str) -> None:
    assert go_float(bound) == text


def request_with(*metrics: Metric, host: str = "h1") -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.add(key="host.name").value.string_value = host
    resource.resource.attributes.add(key="service.name").value.string_value = "api"
    resource.resource.attributes.add(key="service.namespace").value.string_value = "shop"
    resource.resource.attributes.add(key="cloud.region").value.string_value = "eu"
    resource.scope_metrics.add().metrics.extend(metrics)
    return request


def test_summary_delta_histogram_flags_and_rejections() -> None:
    summary = Metric(name="rpc.latency", description="RPC latency", unit="s")
    point = summary.summary.data_points.add(time_unix_nano=NS, count=10, sum=2.5)
    point.quantile_values.add(quantile=0.5, value=0.2)
    point.quantile_values.add(quantile=0.99, value=0.9)
    delta = Metric(name="jobs.done")
    delta.histogram.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    delta.histogram.data_points.add(
        time_unix_nano=NS, count=3, sum=6.0, explicit_bounds=[1.0], bucket_counts=[1, 2]
    )
    gauge = Metric(name="temp")
    gauge.gauge.data_points.add(time_unix_nano=NS, as_int=21)
    gauge.gauge.data_points.add(time_unix_nano=NS + 10**9, flags=1)  # no recorded value
    gauge.gauge.data_points.add(as_double=1.0)  # no time: rejected
    attrs = gauge.gauge.data_points[0].attributes
    attrs.add(key="room.id").value.int_value = 7
    attrs.add(key="room_id").value.bool_value = True  # the same label once translated
    result = translate(request_with(summary, delta, gauge))
    assert (result.samples, result.rejected) == (4 + 4 + 1, 1)
    assert result.errors == ["temp: data point without a plausible time_unix_nano"]
    got = {(s.name, s.labels): (s.timestamps_ms, s.values) for s in result.series}
    base = (("job", "shop/api"),)
    assert got[("rpc_latency", (*base, ("quantile", "0.5")))] == ([MS], [0.2])
    assert got[("rpc_latency_count", base)] == ([MS], [10.0])
    assert got[("jobs_done_bucket", (*base, ("le", "1")))] == ([MS], [1.0])
    assert got[("jobs_done_bucket", (*base, ("le", "+Inf")))] == ([MS], [3.0])
    assert got[("temp", (*base, ("room_id", "7;true")))] == ([MS], [21.0])
    assert {s.host for s in result.series} == {"h1"}
    types = {m.name: (m.type, m.help, m.unit) for m in result.metadata.values()}
    assert types == {
        "rpc_latency": ("summary", "RPC latency", "s"),
        "jobs_done": ("unknown", "", ""),
        "temp": ("gauge", "", ""),
    }


def test_a_host_name_that_cannot_name_a_host_rejects_its_points() -> None:
    gauge = Metric(name="temp")
    gauge.gauge.data_points.add(time_unix_nano=NS, as_double=1.0)
    result = translate(request_with(gauge, host="bad\nhost"))
    assert (result.samples, result.rejected, result.series) == (0, 1, [])


def test_digest_groups_a_batch_by_host_time_and_metric() -> None:
    gauge = Metric(name="temp")
    gauge.gauge.data_points.add(time_unix_nano=NS, as_double=1.0)
    gauge.gauge.data_points.add(time_unix_nano=NS + 10**9, as_double=float("inf"))
    counter = Metric(name="reqs")
    counter.sum.is_monotonic = True
    counter.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    counter.sum.data_points.add(time_unix_nano=NS, as_int=4)
    batch = translate(request_with(gauge, counter)).batch(MS)
    assert decode_samples(encode_samples(batch)) == batch
    digested = samples_rows(1, encode_samples(batch))
    [host] = digested.batches
    assert (host.hostname, host.machine_id, host.attach_by_name) == ("h1", "device:h1", True)
    frames = [(f.ts_ms, f.series, f.values) for f in host.frames]
    assert frames == [
        (MS, ('reqs_total{job="shop/api"}',), (4.0,)),
        (MS, ('temp{job="shop/api"}',), (1.0,)),
        (MS + 1000, ('temp{job="shop/api"}',), (None,)),  # +Inf is stored as absent
    ]
    assert digested.metadata is not None
    assert [r.metric_family_name for r in digested.metadata.rows] == ["temp", "reqs_total"]
