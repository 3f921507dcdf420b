"""OTLP metrics (opentelemetry.proto.metrics.v1) as Prometheus-style series: the pure half of
POST /v1/metrics (ingest/otlp.py). The rules follow Prometheus' own OTLP translator, with the
differences docs/interop.md lists:

- host: the resource's `host.name`, else its `service.name`, else "otlp". `job` is
  `service.namespace/service.name` (or `service.name`) and `instance` is
  `service.instance.id`, as Prometheus sets them; other resource attributes are not kept.
- names: metric names and attribute keys outside Prometheus' character set are translated
  (model/samples.py: dots and other characters become "_"); no unit suffixes are added.
- gauge: one sample per point. A monotonic cumulative sum is a counter, named with `_total`;
  a non-monotonic sum is a gauge. A delta sum is stored as sent, one sample per interval
  holding that interval's increase (sum_over_time adds them up), named without `_total` and
  typed "unknown" in the metadata, since it is no counter.
- histogram (explicit buckets): `_bucket{le=...}` cumulative counts, `le="+Inf"` = count,
  `_count`, and `_sum` when the point has one; delta histograms are stored as sent like delta
  sums. Summary: `{quantile=...}`, `_count`, `_sum`.
- rejected (OTLP partial success): exponential histograms, points without a time (or one
  outside the years 2000 to 2200), and
  metrics with no name; points flagged "no recorded value" are skipped silently, as
  Prometheus turns them into stale markers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    DataPointFlags,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)

from fleetscope.model.samples import (
    MAX_TIMESTAMP_MS,
    MIN_TIMESTAMP_MS,
    SamplesBatch,
    SeriesMetadata,
    SeriesSamples,
    prometheus_label_name,
    prometheus_metric_name,
)

DEFAULT_HOST = "otlp"
_NO_VALUE = DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_NS_PER_MS = 1_000_000
Labels = tuple[tuple[str, str], ...]


def attribute_text(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    if kind is None:
        return ""
    # Arrays, maps and bytes: their OTLP JSON form, as Prometheus' translator does.
    return json.dumps(MessageToDict(value).get(_JSON_FIELD[kind]), separators=(",", ":"))


_JSON_FIELD = {
    "array_value": "arrayValue",
    "kvlist_value": "kvlistValue",
    "bytes_value": "bytesValue",
}


def go_float(bound: float) -> str:
    """A bucket bound as Go's strconv.FormatFloat(f, 'f', -1, 64) writes it, which is what
    Prometheus' translator puts in `le`: 0.00001 rather than Python's 1e-05."""
    if not math.isfinite(bound):
        return {"inf": "+Inf", "-inf": "-Inf"}.get(repr(bound), "NaN")
    text = format(Decimal(repr(bound)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass
class _Out:
    host: str
    base: Labels
    series: dict[tuple[str, Labels], SeriesSamples] = field(default_factory=dict)

    def add(self, name: str, labels: Labels, ts_ms: int, value: float) -> None:
        key = (name, labels)
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = SeriesSamples(self.host, name, labels, [], [])
        found.timestamps_ms.append(ts_ms)
        found.values.append(value)


@dataclass
class Translation:
    series: list[SeriesSamples] = field(default_factory=list)
    metadata: dict[str, SeriesMetadata] = field(default_factory=dict)
    samples: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, points: int, why: str) -> None:
        self.rejected += points
        if len(self.errors) < 5:
            self.errors.append(why)

    def batch(self, received_ms: int) -> SamplesBatch:
        return SamplesBatch("otlp", received_ms, self.series, list(self.metadata.values()))


def _resource(attributes: Sequence[KeyValue]) -> tuple[str, Labels]:
    attrs = {kv.key: attribute_text(kv.value) for kv in attributes}
    service = attrs.get("service.name", "")
    namespace = attrs.get("service.namespace", "")
    host = attrs.get("host.name") or service or DEFAULT_HOST
    labels = {}
    if service:
        labels["job"] = f"{namespace}/{service}" if namespace else service
    if attrs.get("service.instance.id"):
        labels["instance"] = attrs["service.instance.id"]
    return host, tuple(sorted(labels.items()))


def _labels(base: Labels, attributes: Iterable[KeyValue], *extra: tuple[str, str]) -> Labels:
    labels = dict(base)
    # Keys that translate to one label name ("a.b" and "a_b") have their values joined with
    # ";" in the order of the original keys, as Prometheus' translator does.
    joined: dict[str, list[tuple[str, str]]] = {}
    for kv in attributes:
        name = prometheus_label_name(kv.key)
        if name:
            joined.setdefault(name, []).append((kv.key, attribute_text(kv.value)))
    for name, pairs in joined.items():
        labels[name] = ";".join(text for _, text in sorted(pairs))
    labels.update(extra)
    return tuple(sorted((k, v) for k, v in labels.items() if v))


def _number(point: NumberDataPoint) -> float:
    return point.as_int if point.WhichOneof("value") == "as_int" else point.as_double


def _usable(point: NumberDataPoint | HistogramDataPoint | SummaryDataPoint) -> int | None:
    """The point's time in ms; None when it carries no value (flag), -1 when its time is
    missing or implausible (model/samples.py MIN_TIMESTAMP_MS)."""
    if point.flags & _NO_VALUE:
        return None
    ts_ms = point.time_unix_nano // _NS_PER_MS
    return ts_ms if MIN_TIMESTAMP_MS <= ts_ms < MAX_TIMESTAMP_MS else -1


def _gauge_like(
    out: _Out, result: Translation, name: str, points: Sequence[NumberDataPoint]
) -> None:
    for point in points:
        ts_ms = _usable(point)
        if ts_ms is None:
            continue
        if ts_ms < 0:
            result.reject(1, f"{name}: data point without a plausible time_unix_nano")
            continue
        out.add(name, _labels(out.base, point.attributes), ts_ms, _number(point))
        result.samples += 1


def _histogram(
    out: _Out, result: Translation, name: str, points: Sequence[HistogramDataPoint]
) -> None:
    for point in points:
        ts_ms = _usable(point)
        if ts_ms is None:
            continue
        if ts_ms < 0 or len(point.bucket_counts) not in (0, len(point.explicit_bounds) + 1):
            result.reject(
                1, f"{name}: histogram point without a plausible time or with mismatched buckets"
            )
            continue
        labels = _labels(out.base, point.attributes)
        cumulative = 0
        for bound, count in zip(point.explicit_bounds, point.bucket_counts, strict=False):
            cumulative += count
            le = _labels(out.base, point.attributes, ("le", go_float(bound)))
            out.add(f"{name}_bucket", le, ts_ms, float(cumulative))
        inf = _labels(out.base, point.attributes, ("le", "+Inf"))
        out.add(f"{name}_bucket", inf, ts_ms, float(point.count))
        out.add(f"{name}_count", labels, ts_ms, float(point.count))
        result.samples += len(point.explicit_bounds) + 2
        if point.HasField("sum"):
            out.add(f"{name}_sum", labels, ts_ms, point.sum)
            result.samples += 1


def _summary(out: _Out, result: Translation, name: str, points: Sequence[SummaryDataPoint]) -> None:
    for point in points:
        ts_ms = _usable(point)
        if ts_ms is None:
            continue
        if ts_ms < 0:
            result.reject(1, f"{name}: summary point without a plausible time_unix_nano")
            continue
        labels = _labels(out.base, point.attributes)
        for q in point.quantile_values:
            quantile = _labels(out.base, point.attributes, ("quantile", go_float(q.quantile)))
            out.add(name, quantile, ts_ms, q.value)
        out.add(f"{name}_count", labels, ts_ms, float(point.count))
        out.add(f"{name}_sum", labels, ts_ms, point.sum)
        result.samples += len(point.quantile_values) + 2


def _metric(out: _Out, result: Translation, metric: Metric) -> None:
    kind = metric.WhichOneof("data")
    name = prometheus_metric_name(metric.name) if metric.name else ""
    if not name:
        result.reject(_points(metric), "a metric without a name")
        return
    typ = "gauge"
    if kind == "gauge":
        _gauge_like(out, result, name, metric.gauge.data_points)
    elif kind == "sum":
        if metric.sum.aggregation_temporality == _DELTA:
            typ = "unknown"
        elif metric.sum.is_monotonic:
            typ = "counter"
            name = name if name.endswith("_total") else f"{name}_total"
        _gauge_like(out, result, name, metric.sum.data_points)
    elif kind == "histogram":
        typ = "unknown" if metric.histogram.aggregation_temporality == _DELTA else "histogram"
        _histogram(out, result, name, metric.histogram.data_points)
    elif kind == "summary":
        typ = "summary"
        _summary(out, result, name, metric.summary.data_points)
    else:
        result.reject(_points(metric), f"{name}: {kind or 'empty'} metrics are not supported")
        return
    result.metadata[name] = SeriesMetadata(name, typ, metric.description, metric.unit)


def _points(metric: Metric) -> int:
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0


def translate(request: ExportMetricsServiceRequest) -> Translation:
    result = Translation()
    outs: list[_Out] = []
    for resource_metrics in request.resource_metrics:
        host, base = _resource(resource_metrics.resource.attributes)
        if len(host) > 255 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in host):
            points = sum(_points(m) for sm in resource_metrics.scope_metrics for m in sm.metrics)
            result.reject(points, f"host.name {host[:64]!r} cannot name a host")
            continue
        out = _Out(host, base)
        outs.append(out)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _metric(out, result, metric)
    result.series = [s for out in outs for s in out.series.values()]
    return result
