"""Samples of named series from Prometheus-speaking senders: what ingest enqueues for
remote_write (ingest/remote_write.py) and OTLP/HTTP metrics (ingest/otlp.py), and digest
turns into frames (digest/transform.py samples_rows). Ingest has already decoded, validated,
named the host of every series and translated names; digest only groups.

Encoded as MessagePack (msgspec): a request's series with their sample arrays, not one record
per sample, so the message stays near the size of the protobuf it came from.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

__all__ = [
    "SamplesBatch",
    "SeriesMetadata",
    "SeriesSamples",
    "decode_samples",
    "encode_samples",
    "prometheus_label_name",
    "prometheus_metric_name",
]

# Prometheus' data model (prometheus.io/docs/concepts/data_model), as model/devices.py.
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# The plausible sample times (model/devices.py takes the same years): a time outside them is a
# sender's bug, and on PostgreSQL each day of them would be a partition of its own.
MIN_TIMESTAMP_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TIMESTAMP_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z
_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_UNDERSCORES = re.compile(r"__+")


class SeriesSamples(msgspec.Struct, frozen=True, array_like=True):
    """One series on one host: its metric name, its other labels sorted by name (`__name__`
    is `name`), and its samples, timestamps in epoch milliseconds aligned with values."""

    host: str
    name: str
    labels: tuple[tuple[str, str], ...]
    timestamps_ms: list[int]
    values: list[float]


class SeriesMetadata(msgspec.Struct, frozen=True, array_like=True):
    """What a sender says about a metric family. type is Prometheus' lower-case name
    (counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown)."""

    name: str
    type: str
    help: str
    unit: str


class SamplesBatch(msgspec.Struct, frozen=True):
    source: Literal["remote_write", "otlp"]
    received_ms: int  # when ingest accepted it: the newest metadata of a family wins
    series: list[SeriesSamples]
    metadata: list[SeriesMetadata] = []
    # body_batch_id (model/devices.py) of the request as received: a sender's retry of a
    # request whose answer it lost is skipped whole (ingested_batches). None in messages
    # enqueued before it was added.
    batch_id: str | None = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SamplesBatch)


def encode_samples(batch: SamplesBatch) -> bytes:
    return _encoder.encode(batch)


def decode_samples(body: bytes) -> SamplesBatch:
    return _decoder.decode(body)


def prometheus_metric_name(name: str) -> str:
    """A metric name Prometheus accepts, from an OpenTelemetry one: every character outside
    [a-zA-Z0-9_:] becomes "_" (dots, dashes, slashes, non-ASCII), runs of "_" collapse, and
    a leading digit gets a "_" before it, as Prometheus' OTLP translator does
    (prometheus/otlptranslator, without its unit and type suffixes: see docs/interop.md)."""
    if METRIC_NAME.fullmatch(name):
        return name
    out = _UNDERSCORES.sub("_", _INVALID_METRIC_CHARS.sub("_", name))
    return "_" + out if out[:1].isdigit() else out


def prometheus_label_name(name: str) -> str:
    """A label name from an attribute key, by the same rule (colons are not allowed here).
    A key that starts with "__" keeps one underscore: "__" is reserved for Prometheus."""
    if LABEL_NAME.fullmatch(name) and not name.startswith("__"):
        return name
    out = _UNDERSCORES.sub("_", _INVALID_LABEL_CHARS.sub("_", name))
    return "key_" + out if out[:1].isdigit() else out
