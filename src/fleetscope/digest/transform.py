"""Pure transforms: a stream message body becomes the rows to store. No I/O here."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from fleetscope.exposition.parse import parse_exposition
from fleetscope.model.aggregator import FastBatch, decode_batch
from fleetscope.model.codec import decode_payload, encode
from fleetscope.model.devices import (
    AggregatorBatch,
    CollectionHeader,
    PrometheusPush,
    UploadHeader,
    body_batch_id,
    device_machine_id,
    split_upload,
)
from fleetscope.model.kinds import (
    AGENT_PAYLOAD,
    AGGREGATOR_METRICS,
    COLLECTION_FILE,
    PERFCOLLECTOR_UPLOAD,
    PROMETHEUS_TEXT,
    SERIES_SAMPLES,
)
from fleetscope.model.payload import Payload, ProcessGroup, Snapshot
from fleetscope.model.process_exporter import PROCESS_EXPORTER, process_groups
from fleetscope.model.samples import decode_samples
from fleetscope.model.series import flatten_columns, series_key
from fleetscope.store.engine import ms_of as _ms
from fleetscope.store.metadata import MetadataRow, MetadataRows
from fleetscope.store.writer import (
    BatchRows,
    CollectionRow,
    FrameRow,
    InventoryRow,
    ProcessGroupRow,
)
from fleetscope.stream.bodies import json_body

__all__ = [
    "AGENT_PAYLOAD",
    "AGGREGATOR_METRICS",
    "COLLECTION_FILE",
    "PROMETHEUS_TEXT",
    "SERIES_SAMPLES",
    "Digested",
    "agent_payload_rows",
    "aggregator_rows",
    "collection_rows",
    "digest_message",
    "message_rows",
    "prometheus_rows",
    "samples_rows",
    "upload_rows",
]


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A perfcollector capture to keep as a collection file of its machine's collector."""

    header: UploadHeader
    content: bytes


@dataclass(frozen=True, slots=True)
class Digested:
    """What one message becomes: rows per host, metric metadata (which has no host), and an
    uploaded file to keep (digest/uploads.py, after the rows are committed)."""

    batches: list[BatchRows]
    metadata: MetadataRows | None = None
    upload: UploadedFile | None = None


def digest_message(
    kind: str, tenant_id: int, body: bytes, decoded: object | None = None
) -> Digested:
    """decoded: the body as ingest decoded it, when the stream handed it over
    (StreamMessage.decoded): an agent payload's Payload is not decoded again."""
    if kind == AGENT_PAYLOAD and isinstance(decoded, Payload):
        return Digested([payload_rows(tenant_id, decoded)])
    if kind == AGGREGATOR_METRICS and isinstance(decoded, FastBatch):
        return Digested(aggregator_rows(tenant_id, body, decoded))
    if kind == SERIES_SAMPLES:
        return samples_rows(tenant_id, body)
    if kind == PERFCOLLECTOR_UPLOAD:
        return upload_rows(tenant_id, body)
    return Digested(message_rows(kind, tenant_id, body))


def message_rows(kind: str, tenant_id: int, body: bytes) -> list[BatchRows]:
    """Dispatch on the message kind. Raises ValueError (model.codec.PayloadError and
    pydantic's ValidationError are ones) for a body that does not match its kind: ingest
    validated it, so that means a bug or a tampered queue, and the message is dead-lettered."""
    if kind == AGENT_PAYLOAD:
        return [agent_payload_rows(tenant_id, body)]
    if kind == AGGREGATOR_METRICS:
        return aggregator_rows(tenant_id, body)
    if kind == PROMETHEUS_TEXT:
        return prometheus_rows(tenant_id, body)
    if kind == COLLECTION_FILE:
        return collection_rows(tenant_id, body)
    if kind == SERIES_SAMPLES:
        return samples_rows(tenant_id, body).batches
    if kind == PERFCOLLECTOR_UPLOAD:
        return upload_rows(tenant_id, body).batches
    raise ValueError(f"unknown message kind {kind!r}")


def agent_payload_rows(tenant_id: int, body: bytes) -> BatchRows:
    """body: the payload's JSON, or the zstd body ingest kept as the agent sent it."""
    return payload_rows(tenant_id, decode_payload(json_body(body)))


def payload_rows(tenant_id: int, payload: Payload) -> BatchRows:
    frames = []
    groups: list[ProcessGroupRow] = []
    inventory: list[InventoryRow] = []
    for snapshot in payload.snapshots:
        ts_ms = _ms(snapshot.timestamp)
        series, values = flatten_columns(snapshot)
        frames.append(FrameRow(ts_ms=ts_ms, series=tuple(series), values=tuple(values)))
        groups.extend(_snapshot_groups(ts_ms, snapshot))
        if snapshot.inventory is not None:
            audit = snapshot.inventory
            inventory.append(
                InventoryRow(
                    ts_ms=ts_ms,
                    content_sha256=audit.content_sha256,
                    audit_json=encode(audit).decode(),
                )
            )
    return BatchRows(
        tenant_id=tenant_id,
        machine_id=payload.host.machine_id,
        hostname=payload.host.hostname,
        agent_version=payload.agent.version,
        batch_id=str(payload.batch_id),
        frames=tuple(frames),
        process_groups=tuple(groups),
        inventory=tuple(inventory),
    )


def _group_row(ts_ms: int, group: ProcessGroup) -> ProcessGroupRow:
    return ProcessGroupRow(  # by position: tens a payload, keywords cost more
        ts_ms,
        group.name,
        group.num_procs,
        group.cpu_user_seconds_total + group.cpu_system_seconds_total,  # cpu_seconds_total
        group.resident_bytes,  # memory_bytes
        group.read_bytes_total,
        group.write_bytes_total,
    )


def _snapshot_groups(ts_ms: int, snapshot: Snapshot) -> list[ProcessGroupRow]:
    """The agent's own groups and those of its process-exporter targets' successful scrapes.
    A name both have is one group of one host at one time (the table's key): the
    process-exporter's, which the user configured on purpose, is kept."""
    by_name: dict[str, ProcessGroup] = {}
    if snapshot.processes is not None:
        by_name.update((group.name, group) for group in snapshot.processes.groups)
    for scrape in snapshot.exporters or ():
        if scrape.kind == PROCESS_EXPORTER and scrape.success:
            found, _incomplete = process_groups(
                (sample.name, sample.labels, sample.value) for sample in scrape.samples
            )
            by_name.update((group.name, group) for group in found)
    return [_group_row(ts_ms, group) for group in by_name.values()]


def _device_frames(samples: Iterable[tuple[int, str, float | None]]) -> tuple[FrameRow, ...]:
    """(ts_ms, series key, value) samples of one device become one frame per timestamp, series
    sorted so that the same set of series always makes the same layout. A series repeated at
    one timestamp keeps its first value."""
    by_ts: dict[int, dict[str, float | None]] = {}
    for ts_ms, key, value in samples:
        by_ts.setdefault(ts_ms, {}).setdefault(key, value)
    return _frames_by_time(by_ts)


def _frames_by_time(by_ts: dict[int, dict[str, float | None]]) -> tuple[FrameRow, ...]:
    frames = []
    for ts_ms in sorted(by_ts):
        values = by_ts[ts_ms]
        keys = tuple(sorted(values))
        frames.append(FrameRow(ts_ms, keys, tuple(values[k] for k in keys)))
    return tuple(frames)


def _device_batch(
    tenant_id: int, device_name: str, frames: tuple[FrameRow, ...], batch_id: str | None
) -> BatchRows:
    return BatchRows(
        tenant_id=tenant_id,
        machine_id=device_machine_id(device_name),
        hostname=device_name,
        agent_version=None,
        batch_id=batch_id,
        frames=frames,
        attach_by_name=True,
    )


def aggregator_rows(
    tenant_id: int, body: bytes, decoded: FastBatch | None = None
) -> list[BatchRows]:
    """decoded: the batch as ingest decoded it (model/aggregator.py), when handed over;
    else the body is decoded the same way, or by the pydantic models when the fast decoder
    does not take it (ingest did accept it)."""
    if decoded is None:
        body = json_body(body)  # ingest keeps these zstd-compressed in the stream
        fast = decode_batch(body)
        if fast is None:
            return _aggregator_rows_validated(tenant_id, body)
    else:
        fast = decoded
    # device -> time -> series key -> value; a series repeated at one time keeps its first.
    by_device: dict[str, dict[int, dict[str, float | None]]] = {}
    for name, value, ts_ms, key in zip(fast.devices, fast.values, fast.ms, fast.keys, strict=True):
        device = by_device.get(name)
        if device is None:
            device = by_device[name] = {}
        frame = device.get(ts_ms)
        if frame is None:
            frame = device[ts_ms] = {}
        if key not in frame:
            frame[key] = value
    return [
        _device_batch(tenant_id, device, _frames_by_time(by_ts), fast.batch_id)
        for device, by_ts in by_device.items()
    ]


def _aggregator_rows_validated(tenant_id: int, body: bytes) -> list[BatchRows]:
    batch = AggregatorBatch.model_validate_json(body)
    by_device: dict[str, list[tuple[int, str, float | None]]] = {}
    for metric in batch.metrics:
        by_device.setdefault(metric.device_name, []).append(
            (_ms(metric.timestamp), series_key(metric.metric_name, metric.labels), metric.value)
        )
    batch_id = body_batch_id(body)
    return [
        _device_batch(tenant_id, device, _device_frames(samples), batch_id)
        for device, samples in by_device.items()
    ]


def prometheus_rows(tenant_id: int, body: bytes) -> list[BatchRows]:
    """Sample names are kept as exposed (`node_load1`, `http_requests_total`); NaN and ±Inf
    are stored as absent, as for scraped exporters (model/series.py flatten_exporters). A
    push of kind process-exporter also yields its groups as process groups."""
    push = PrometheusPush.model_validate_json(body)
    parsed = parse_exposition(push.text, push.content_type)
    samples = [
        (
            push.default_timestamp_ms if s.timestamp is None else round(s.timestamp * 1000),
            series_key(s.name, dict(s.labels)),
            s.value if math.isfinite(s.value) else None,
        )
        for s in parsed
    ]
    if not samples:
        return []
    # A push without ?timestamp= has its time of receipt in the body: a retry is a new batch.
    batch = _device_batch(tenant_id, push.device_name, _device_frames(samples), body_batch_id(body))
    if push.kind != PROCESS_EXPORTER:
        return [batch]
    # process-exporter stamps no sample, so its groups are at the push's time.
    found, _incomplete = process_groups((s.name, dict(s.labels), s.value) for s in parsed)
    rows = tuple(_group_row(push.default_timestamp_ms, group) for group in found)
    return [dataclasses.replace(batch, process_groups=rows)]


def split_collection(body: bytes) -> tuple[CollectionHeader, list[bytes]]:
    head, _, rest = body.partition(b"\n")
    return CollectionHeader.model_validate_json(head), [
        line for line in rest.splitlines() if line.strip()
    ]


def collection_rows(tenant_id: int, body: bytes) -> list[BatchRows]:
    """Every line is a payload, digested as if streamed; the first batch also carries the
    collection's record (its host is the payloads' host: ingest checked there is one)."""
    header, lines = split_collection(body)
    return _collection_batches(tenant_id, header, lines)


def upload_rows(tenant_id: int, body: bytes) -> Digested:
    """A perfcollector capture: the payloads ingest made of it, stored as a collection file's
    (a `collections` record, so it can be analysed like one), and the file itself to keep."""
    header, content, lines = split_upload(body)
    collection = CollectionHeader(
        content_sha256=header.content_sha256,
        bytes=header.bytes,
        uploaded_by=header.uploaded_by,
        received_ms=header.received_ms,
    )
    batches = _collection_batches(tenant_id, collection, lines)
    if any(b.machine_id != header.machine_id for b in batches):
        raise ValueError(f"perfcollector_upload payloads not all of {header.machine_id!r}")
    return Digested(batches, upload=UploadedFile(header, content))


def _collection_batches(
    tenant_id: int, header: CollectionHeader, lines: list[bytes]
) -> list[BatchRows]:
    payloads = [decode_payload(line) for line in lines]
    if not payloads:
        raise ValueError("collection file without payloads")
    stamps = [_ms(s.timestamp) for p in payloads for s in p.snapshots]
    collection = CollectionRow(
        content_sha256=header.content_sha256,
        first_ts_ms=min(stamps),
        last_ts_ms=max(stamps),
        bytes=header.bytes,
        snapshots=len(stamps),
        uploaded_by=header.uploaded_by,
        received_ms=header.received_ms,
    )
    rows = [payload_rows(tenant_id, p) for p in payloads]
    first = rows[0]
    rows[0] = BatchRows(
        tenant_id=first.tenant_id,
        machine_id=first.machine_id,
        hostname=first.hostname,
        agent_version=first.agent_version,
        batch_id=first.batch_id,
        frames=first.frames,
        process_groups=first.process_groups,
        inventory=first.inventory,
        collection=collection,
    )
    return rows


@functools.lru_cache(maxsize=100_000)
def _samples_key(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    """series_key, kept: the same series come back every scrape, and building their keys
    again was a large share of this transform's time (docs/code-choices.md)."""
    return series_key(name, dict(labels))


def samples_rows(tenant_id: int, body: bytes) -> Digested:
    """Series from remote_write or OTLP, one device batch per host. A frame per (time, metric
    name) rather than per time: senders split what one scrape saw over requests at arbitrary
    points (Prometheus cuts its queues every max_samples_per_send samples), so a frame of
    everything a request had at one instant would make a new layout at nearly every request;
    per metric name the layouts repeat. NaN and ±Inf are stored as absent (prometheus_rows);
    Prometheus' stale markers never reach here (ingest drops them)."""
    batch = decode_samples(body)
    by_host: dict[str, dict[tuple[int, str], dict[str, float | None]]] = {}
    for series in batch.series:
        key = _samples_key(series.name, series.labels)
        frames = by_host.setdefault(series.host, {})
        for ts_ms, value in zip(series.timestamps_ms, series.values, strict=True):
            frames.setdefault((ts_ms, series.name), {}).setdefault(
                key, value if math.isfinite(value) else None
            )
    batches = []
    for host, frames in by_host.items():
        rows = []
        for ts_ms, name in sorted(frames):
            values = frames[(ts_ms, name)]
            keys = tuple(sorted(values))
            rows.append(FrameRow(ts_ms, keys, tuple(values[k] for k in keys)))
        batches.append(_device_batch(tenant_id, host, tuple(rows), batch.batch_id))
    metadata = None
    if batch.metadata:
        metadata = MetadataRows(
            tenant_id,
            batch.received_ms,
            tuple(MetadataRow(m.name, m.type, m.help, m.unit) for m in batch.metadata),
        )
    return Digested(batches, metadata)
