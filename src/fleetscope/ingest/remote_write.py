"""POST /prometheus/api/v1/write: Prometheus remote-write 1.0 (a snappy-compressed protobuf
WriteRequest, prometheus.io/docs/concepts/remote_write_spec).

Same key check and body bound as the other ingest endpoints (ingest/intake.py). Each series
lands on the host its `instance` label names (IngestSettings.host_label; a `:port` is cut off,
so `web-1:9100` joins the agent's host `web-1`), as the exporter-style series the pushed
exposition path makes: the metric name and every label as sent, `instance` and `job` too.

What each answer tells Prometheus, whose queue retries 5xx (and 429 only with
`retry_on_http_429`, off by default in 2.x) and drops a batch on any other 4xx:
- 204 once the request is in the stream on disk, as every ingest 2xx (docs/architecture.md);
- 400 for a body that is not snappy, not a WriteRequest, or a series without a name or with
  an invalid label name (resending would not help); 401/403 for the key; 413 too large;
  415 for a Content-Type or Content-Encoding other than protobuf and snappy;
- 503 with Retry-After when the stream is full or down. A full stream answers 503, not the
  429 the other endpoints give: Prometheus 2.x drops a batch answered 429 unless
  `retry_on_http_429` is set, which would lose what the backlog limit exists to keep.

Stale markers (the NaN with bits 0x7ff0000000000002 that Prometheus writes when a series
disappears) are not samples and are dropped; exemplars and native histograms are skipped
and counted in the response header X-Fleetscope-Skipped.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import cramjam
import msgspec
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from google.protobuf.message import DecodeError

from fleetscope.ingest.body import BodyTooLarge, read_limited
from fleetscope.ingest.intake import (
    IngestDeps,
    Rejected,
    authenticate_headers,
    enqueue,
    error,
    header_media_type,
)
from fleetscope.ingest.prompb.remote_pb2 import Label, MetricMetadata, WriteRequestView
from fleetscope.model.devices import body_batch_id
from fleetscope.model.kinds import SERIES_SAMPLES
from fleetscope.model.samples import (
    LABEL_NAME,
    MAX_TIMESTAMP_MS,
    METRIC_NAME,
    MIN_TIMESTAMP_MS,
    SamplesBatch,
    SeriesMetadata,
    SeriesSamples,
    encode_samples,
)
from fleetscope.stream.base import NewMessage

WRITE_PATH = "/prometheus/api/v1/write"
PROTOBUF = "application/x-protobuf"
# Series without the host label (recording rules that aggregate it away, federation) land on
# this host, so that nothing Prometheus sends is refused for lack of it.
DEFAULT_HOST = "prometheus"
_STALE_NAN_BITS = 0x7FF0000000000002
_FLOAT64 = struct.Struct("<d")
_UINT64 = struct.Struct("<Q")
_TYPES = {
    value: name.lower()
    for name, value in MetricMetadata.MetricType.items()  # COUNTER -> counter, ...
}


@dataclass(frozen=True, slots=True)
class Translated:
    batch: SamplesBatch
    samples: int
    skipped: int  # exemplars, native histograms and stale markers


def is_stale_marker(value: float) -> bool:
    return math.isnan(value) and _UINT64.unpack(_FLOAT64.pack(value))[0] == _STALE_NAN_BITS


def host_of(instance: str) -> str:
    """`host:port` -> host, `[v6]:port` -> v6; anything else as it is."""
    if instance.startswith("["):
        inner, bracket, _ = instance[1:].partition("]")
        return inner if bracket and inner else instance
    name, colon, port = instance.rpartition(":")
    if colon and name and ":" not in name and port.isdigit():
        return name
    return instance


def _labels(index: int, encoded: Iterable[bytes]) -> tuple[str, dict[str, str]]:
    labels: dict[str, str] = {}
    for raw in encoded:
        try:
            label = Label.FromString(raw)
        except DecodeError as exc:
            raise Rejected(
                400, "invalid", f"timeseries[{index}]: a label is not a prometheus.Label: {exc}"
            ) from exc
        name, value = label.name, label.value
        if name in labels:
            raise Rejected(400, "invalid", f"timeseries[{index}]: label {name!r} appears twice")
        if value:  # an empty value is the same as no label (remote-write spec)
            labels[name] = value
    metric = labels.pop("__name__", "")
    if not METRIC_NAME.fullmatch(metric):
        raise Rejected(
            400,
            "invalid",
            f"timeseries[{index}]: label __name__ {metric[:128]!r} is missing or not a metric"
            " name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
        )
    for name in labels:
        if not LABEL_NAME.fullmatch(name):
            raise Rejected(
                400,
                "invalid",
                f"timeseries[{index}] {metric}: label name {name[:128]!r} must match"
                " [a-zA-Z_][a-zA-Z0-9_]*",
            )
    return metric, labels


# A series' encoded labels (and the host label in force) -> its host, name and sorted labels,
# checked. Prometheus sends the same series every scrape, and decoding and checking their
# labels was most of a request's CPU (upb builds a Python object per field read). Cleared
# when full: label sets are not bounded. Only valid series are kept.
_Identity = tuple[str, str, tuple[tuple[str, str], ...]]
_SERIES: dict[tuple[str, tuple[bytes, ...]], _Identity] = {}
_MAX_CACHED_SERIES = 200_000


def _identity(index: int, encoded: tuple[bytes, ...], host_label: str) -> _Identity:
    key = (host_label, encoded)
    known = _SERIES.get(key)
    if known is not None:
        return known
    metric, labels = _labels(index, encoded)
    instance = labels.get(host_label)
    host = DEFAULT_HOST if instance is None else _device_name(index, instance)
    known = (host, metric, tuple(sorted(labels.items())))
    if len(_SERIES) >= _MAX_CACHED_SERIES:
        _SERIES.clear()
    _SERIES[key] = known
    return known


def _device_name(index: int, value: str) -> str:
    host = host_of(value)
    if len(host) > 255 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in host):
        raise Rejected(
            400,
            "invalid",
            f"timeseries[{index}]: host label value {value[:64]!r} cannot name a host (at most"
            " 255 characters, no control characters)",
        )
    return host


def translate(request: WriteRequestView, host_label: str, received_ms: int) -> Translated:
    """The WriteRequest as a SamplesBatch; Rejected (400) naming the first bad series."""
    series: list[SeriesSamples] = []
    samples = skipped = 0
    for index, ts in enumerate(request.timeseries):
        host, metric, labels = _identity(index, tuple(ts.labels), host_label)
        skipped += len(ts.exemplars) + len(ts.histograms)
        if not ts.samples:
            continue
        stamps = [s.timestamp for s in ts.samples]
        values = [s.value for s in ts.samples]
        if min(stamps) < MIN_TIMESTAMP_MS or max(stamps) >= MAX_TIMESTAMP_MS:
            bad = next(t for t in stamps if not MIN_TIMESTAMP_MS <= t < MAX_TIMESTAMP_MS)
            raise Rejected(
                400,
                "invalid",
                f"timeseries[{index}] {metric}: sample timestamp {bad} ms is not between the"
                " years 2000 and 2200 (epoch milliseconds expected)",
            )
        if any(map(math.isnan, values)):  # maybe stale markers, which are no samples
            kept = [(t, v) for t, v in zip(stamps, values, strict=True) if not is_stale_marker(v)]
            skipped += len(values) - len(kept)
            if not kept:
                continue
            stamps, values = [t for t, _ in kept], [v for _, v in kept]
        samples += len(values)
        series.append(SeriesSamples(host, metric, labels, stamps, values))
    metadata = [
        SeriesMetadata(m.metric_family_name, _TYPES.get(m.type, "unknown"), m.help, m.unit)
        for m in request.metadata
        if m.metric_family_name
    ]
    return Translated(SamplesBatch("remote_write", received_ms, series, metadata), samples, skipped)


def decode_write_request(body: bytes, limit: int) -> WriteRequestView:
    """Snappy block format (not framed), then protobuf; the decoded size is bounded by
    `limit` before anything is decompressed (snappy states it in the first bytes)."""
    try:
        size = cramjam.snappy.decompress_raw_len(body)
        if size > limit:
            raise Rejected(413, "too_large", f"decoded body of {size} bytes exceeds {limit} bytes")
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise Rejected(
            400, "encoding", f"body is not snappy-compressed (block format): {exc}"
        ) from exc
    try:
        return WriteRequestView.FromString(raw)
    except DecodeError as exc:
        raise Rejected(
            400, "invalid", f"body is not a protobuf prometheus.WriteRequest: {exc}"
        ) from exc


def _check_headers(headers: Mapping[str, str], limit: int) -> None:
    content_type = header_media_type(headers, PROTOBUF)
    if content_type != PROTOBUF:
        raise Rejected(415, "media_type", f"Content-Type must be {PROTOBUF}, not {content_type!r}")
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding != "snappy":
        raise Rejected(
            415,
            "media_type",
            f"Content-Encoding must be snappy (remote-write 1.0), not {encoding or 'none'!r}",
        )
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, "too_large", f"request body exceeds {limit} bytes")


def _parse(body: bytes, limit: int, host_label: str, received_ms: int) -> Translated:
    return translate(decode_write_request(body, limit), host_label, received_ms)


async def accept_write(deps: IngestDeps, request: Request) -> Translated:
    principal = await authenticate_headers(request.headers, deps.verify_key, deps.known_key)
    limit = deps.settings.max_body_bytes
    _check_headers(request.headers, limit)
    try:
        body = await read_limited(request.stream(), limit)
    except BodyTooLarge as exc:
        raise Rejected(413, "too_large", str(exc)) from exc
    received_ms = round(deps.clock() * 1000)
    translated = await run_in_threadpool(_parse, body, limit, deps.settings.host_label, received_ms)
    if translated.batch.series or translated.batch.metadata:
        # The request's own id: Prometheus resends the same bytes when an answer is lost.
        batch = msgspec.structs.replace(translated.batch, batch_id=body_batch_id(body))
        message = NewMessage(SERIES_SAMPLES, principal.tenant_id, encode_samples(batch))
        try:
            await enqueue(deps, message)
        except Rejected as rejected:
            if rejected.status == 429:  # module doc: Prometheus 2.x would drop the batch
                raise Rejected(503, rejected.reason, rejected.message, rejected.headers) from None
            raise
    return translated


def build_remote_write_router(deps: IngestDeps) -> APIRouter:
    router = APIRouter(tags=["ingest"])

    @router.post(
        WRITE_PATH,
        status_code=204,
        summary="Accept Prometheus remote-write 1.0 (snappy protobuf WriteRequest)",
    )
    async def write(request: Request) -> Response:
        try:
            translated = await accept_write(deps, request)
        except Rejected as rejected:
            deps.metrics.rejected.labels(rejected.reason).inc()
            return error(rejected.status, rejected.message, rejected.headers, **rejected.extra)
        deps.metrics.accepted.inc()
        headers = {"X-Fleetscope-Samples": str(translated.samples)}
        if translated.skipped:
            headers["X-Fleetscope-Skipped"] = str(translated.skipped)
        return Response(status_code=204, headers=headers)

    return router
