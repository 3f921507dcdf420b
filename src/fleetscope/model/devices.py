"""Requests for devices other than the sender's own: samples from third-party collectors and
scripts (the aggregator API), pushed Prometheus exposition, and uploaded collection files.

A device named here is a host of the key's tenant. When the tenant already has a host of that
name (an agent's), the samples join it; otherwise the device becomes a host whose machine id is
`device:<name>` (DEVICE_MACHINE_PREFIX): deterministic, so every request naming the device
lands on the same host, and never a real /etc/machine-id (those are 32 hex digits).
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from fleetscope.model.names import (
    MAX_NAME_LENGTH,
    check_label_name,
    check_metric_name,
    check_name,
)
from fleetscope.model.text import control_error

DEVICE_MACHINE_PREFIX = "device:"
MAX_MACHINE_ID_LENGTH = 128  # hosts.machine_id, and HostIdentity.machine_id
MAX_METRICS_PER_BATCH = 10_000
MAX_LABELS = 32
MAX_LABEL_VALUE = 1024
MAX_UNIT_LENGTH = 64


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def device_machine_id(device_name: str) -> str:
    """device:<name>; a name too long for the machine_id column (128) as device:sha256:<hex>
    of it, still deterministic. PostgreSQL's column refused the longer ids before (digest
    retried them forever); a SQLite store, which does not check lengths, gets a new host for
    such a device."""
    machine_id = DEVICE_MACHINE_PREFIX + device_name
    if len(machine_id) <= MAX_MACHINE_ID_LENGTH:
        return machine_id
    return f"{DEVICE_MACHINE_PREFIX}sha256:{hashlib.sha256(device_name.encode()).hexdigest()}"


def body_batch_id(body: bytes) -> str:
    """The batch id of a request that carries none (an aggregator batch, a pushed exposition,
    a remote_write request, an OTLP export): BLAKE2b-128 of its body, 32 hex digits (an
    agent's is a 36-character UUID, so the two never meet). A client's retry sends the same
    body, so the store skips it whole (ingested_batches). Frame keys alone do not: a write
    call stores a device's snapshots of one layout as chunks keyed by their first time
    (store/chunk_writes.py), and a replay whose first copy went into a chunk behind an
    earlier request's snapshot has no key to meet (tests/ingest/test_replay_once.py)."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _labels(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    for key, text in value.items():
        check_label_name(key)
        if len(text) > MAX_LABEL_VALUE:
            raise ValueError(f"label {key!r}: value longer than {MAX_LABEL_VALUE} characters")
        if why := control_error(text):
            raise ValueError(f"label {key!r}: value {why}")
    return value


def _name_text(value: str) -> str:
    if why := control_error(value):
        raise ValueError(why)
    return value


def _timestamp(value: Any) -> Any:
    """ISO-8601 with an offset, or epoch seconds (a number or a numeric string). pydantic alone
    would read a large number as milliseconds, which is not what the API promises."""
    if isinstance(value, bool):
        raise ValueError("must be ISO-8601 or epoch seconds")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value  # ISO-8601, parsed by pydantic
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("must be a finite number of epoch seconds")
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError("epoch seconds out of range") from exc
    return value


def _plausible(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("an ISO-8601 time needs an offset (e.g. Z or +00:00)")
    if not 2000 <= value.year <= 2200:
        raise ValueError("must be between the years 2000 and 2200")
    return value


MetricName = Annotated[
    str,
    Field(description="any UTF-8 name (dots too), not empty, at most 200 characters"),
    AfterValidator(check_metric_name),
]
DeviceName = Annotated[
    str,
    Field(description=f"not empty, at most {MAX_NAME_LENGTH} characters, no control characters"),
    AfterValidator(check_name),
]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp), AfterValidator(_plausible)]


class AggregatorMetric(_Strict):
    """POST /api/v1/aggregator/metrics/: one sample of one device. `unit` is checked and
    accepted but not stored yet (docs/data-model.md)."""

    device_name: DeviceName
    metric_name: MetricName
    value: Annotated[float, Field(allow_inf_nan=False)]
    timestamp: Timestamp
    labels: Labels = Field(default_factory=dict)
    unit: (
        Annotated[str, Field(min_length=1, max_length=MAX_UNIT_LENGTH), AfterValidator(_name_text)]
        | None
    ) = None


class AggregatorBatch(_Strict):
    """POST /api/v1/aggregator/metrics/batch/."""

    metrics: Annotated[
        list[AggregatorMetric], Field(min_length=1, max_length=MAX_METRICS_PER_BATCH)
    ]


class PrometheusPush(_Strict):
    """What ingest enqueues for POST /api/v1/ingest/prometheus: the text as received (digest
    parses it again, a pure step), the device, and the time of samples that carry none."""

    device_name: DeviceName
    content_type: Annotated[str, Field(max_length=256)] | None
    default_timestamp_ms: int
    text: str
    # "process-exporter": its groups are also stored as process groups (?kind= on the push).
    kind: Literal["generic", "process-exporter"] = "generic"


class CollectionHeader(_Strict):
    """The first line of a collection_file message: who uploaded what, and when."""

    kind: Literal["collection"] = "collection"
    content_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    bytes: Annotated[int, Field(ge=0)]
    uploaded_by: Annotated[str, Field(max_length=128)]
    received_ms: int


class UploadHeader(_Strict):
    """The first line of a perfcollector_upload message (model/kinds.py): whose capture, how
    long, and who sent it when."""

    kind: Literal["perfcollector_upload"] = "perfcollector_upload"
    machine_id: Annotated[str, Field(min_length=1, max_length=MAX_MACHINE_ID_LENGTH)]
    content_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    bytes: Annotated[int, Field(ge=0)]
    uploaded_by: Annotated[str, Field(max_length=128)]
    received_ms: int


def split_upload(body: bytes) -> tuple[UploadHeader, bytes, list[bytes]]:
    """A perfcollector_upload message body: its header, the file as uploaded, the payload
    lines. ValueError when the body is not one (a bug, or a tampered queue)."""
    head, newline, rest = body.partition(b"\n")
    if not newline:
        raise ValueError("perfcollector_upload message without a header line")
    header = UploadHeader.model_validate_json(head)
    if len(rest) < header.bytes:
        raise ValueError(f"perfcollector_upload message shorter than its {header.bytes} bytes")
    content, payloads = rest[: header.bytes], rest[header.bytes :]
    return header, content, [line for line in payloads.splitlines() if line.strip()]


def upload_body(header: UploadHeader, content: bytes, payload_lines: list[bytes]) -> bytes:
    return b"\n".join([header.model_dump_json().encode(), content, *payload_lines])
