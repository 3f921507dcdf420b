"""The aggregator batch (model/devices.py AggregatorBatch) decoded fast: msgspec Structs and
the same checks as the pydantic models, each distinct string and time checked once.

pydantic's validation of a TSBS-shaped batch (1,000 samples of 10 labels each) cost most of
ingest's CPU per sample (docs/deployment.md, "Issue 17: the aggregator batch door"), and
names, label values and times repeat across the samples of a batch and across batches. So:
one msgspec decode into plain Structs, then the rules of model/devices.py and model/names.py
applied once per distinct string (remembered in bounded caches). Anything this decoder does
not accept, it leaves to the pydantic models: `decode_batch` returns None, and the caller
validates with AggregatorBatch, which either accepts (a form only pydantic's lax mode reads,
such as a value sent as a numeric string) or answers with the error and field path it always
did. The fast path never accepts what the pydantic models refuse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec
from pydantic import TypeAdapter, ValidationError

from fleetscope.model.devices import (
    MAX_LABEL_VALUE,
    MAX_LABELS,
    MAX_METRICS_PER_BATCH,
    MAX_UNIT_LENGTH,
    Timestamp,
    body_batch_id,
)
from fleetscope.model.names import check_label_name, check_metric_name, check_name
from fleetscope.model.series_keys import series_key
from fleetscope.model.text import control_error

# Distinct strings remembered as checked, per kind; a cache that grows past this is emptied
# (a batch still checks, it only costs more).
MAX_CACHED = 100_000


_NO_LABELS = msgspec.Raw(b"{}")


class Metric(msgspec.Struct, forbid_unknown_fields=True):
    """AggregatorMetric's fields as sent. timestamp: epoch seconds or text (ISO-8601, or a
    number as a string), read as AggregatorMetric reads it. labels: the JSON text of the
    object, decoded only the first time that text comes (a sender repeats the same labels
    in every sample of a series, byte for byte); decoding every label set into a dict was
    the largest part of the decode."""

    device_name: str
    metric_name: str
    value: float
    timestamp: int | float | str
    labels: msgspec.Raw = _NO_LABELS
    unit: str | None = None


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    metrics: list[Metric]


_decoder = msgspec.json.Decoder(_Batch)
_labels_decoder = msgspec.json.Decoder(dict[str, str])
_timestamp = TypeAdapter(Timestamp)


@dataclass(frozen=True, slots=True)
class FastBatch:
    """A decoded and checked batch, one entry per metric in each list: its device, value,
    time as the store keeps it (epoch milliseconds, rounded: store/engine.py ms_of) and series
    key (model/series_keys.py). seconds: each distinct time in epoch seconds and the index of
    the first metric at it, in order of first appearance (what the ingest window check
    needs). Devices, times and keys are the caches' own objects, shared by every batch: the
    embedded stream keeps this form in memory until digest claims the message (about 60
    bytes a metric; the decoded Structs with their label dicts are about 1.5 KB)."""

    devices: list[str]
    values: list[float]
    ms: list[int]
    keys: list[str]
    seconds: dict[float, int]
    batch_id: str  # of the body (model/devices.py body_batch_id)


class _Checked:
    """Strings known to pass one rule. A dict lookup per string instead of the rule's regex
    and length checks; bounded by MAX_CACHED."""

    __slots__ = ("_known", "_rule")

    def __init__(self, rule: Callable[[str], object]) -> None:
        self._known: dict[str, str] = {}
        self._rule = rule

    def ok(self, value: str) -> bool:
        return bool(self.known(value))

    def known(self, value: str) -> str:
        """The remembered copy of value (one object for every batch that sends it), or ""
        when the rule refuses it."""
        found = self._known.get(value)
        if found is not None:
            return found
        try:
            self._rule(value)
        except ValueError:
            return ""
        if len(self._known) >= MAX_CACHED:
            self._known.clear()
        self._known[value] = value
        return value


def _label_value(value: str) -> None:
    if len(value) > MAX_LABEL_VALUE or control_error(value):
        raise ValueError(value)


def _unit(value: str) -> None:
    if not 1 <= len(value) <= MAX_UNIT_LENGTH or control_error(value):
        raise ValueError(value)


_device_names = _Checked(check_name)
_metric_names = _Checked(check_metric_name)
_label_names = _Checked(check_label_name)
_label_values = _Checked(_label_value)
_units = _Checked(_unit)
# A time as sent -> (epoch seconds, epoch ms), through AggregatorMetric's own validator.
_times: dict[int | float | str, tuple[float, int]] = {}


def _time(raw: int | float | str) -> tuple[float, int] | None:
    found = _times.get(raw)
    if found is not None:
        return found
    try:
        at: datetime = _timestamp.validate_python(raw)
    except ValidationError:
        return None
    seconds = at.timestamp()
    if len(_times) >= MAX_CACHED:
        _times.clear()
    found = _times[raw] = (seconds, round(seconds * 1000))
    return found


# (metric name, labels' JSON text as sent) -> series key, for names and labels that passed.
_series: dict[tuple[str, bytes], str] = {}


def _labels_ok(labels: dict[str, str]) -> bool:
    if len(labels) > MAX_LABELS:
        return False
    names, values = _label_names.ok, _label_values.ok
    return all(names(key) and values(text) for key, text in labels.items())


def _series_key(name: str, raw: bytes) -> str:
    """The key of a series not seen before, or "" when its name or a label is refused."""
    try:
        labels = _labels_decoder.decode(raw)
    except msgspec.MsgspecError:
        return ""
    if not (_metric_names.ok(name) and _labels_ok(labels)):
        return ""
    if len(_series) >= MAX_CACHED:
        _series.clear()
    key = _series[(name, raw)] = series_key(name, labels)
    return key


def decode_batch(body: bytes) -> FastBatch | None:
    """The batch, every field checked as AggregatorBatch checks it; None when anything is not
    accepted here (the caller then asks AggregatorBatch, which names the error)."""
    try:
        metrics = _decoder.decode(body).metrics
    except msgspec.MsgspecError:
        return None
    if not 1 <= len(metrics) <= MAX_METRICS_PER_BATCH:
        return None
    devices: list[str] = []
    values: list[float] = []
    ms: list[int] = []
    keys: list[str] = []
    seconds: dict[float, int] = {}
    # Bound once: this loop runs for every sample, and most lookups hit the caches.
    series, times, known_devices = _series, _times, _device_names._known
    device_of, isfinite = _device_names.known, math.isfinite
    last: tuple[float, int] | None = None
    for index, m in enumerate(metrics):
        name = m.metric_name
        raw = bytes(m.labels)
        key = series.get((name, raw)) or _series_key(name, raw)
        at = times.get(m.timestamp) or _time(m.timestamp)
        device = known_devices.get(m.device_name) or device_of(m.device_name)
        value = m.value
        if not (key and at and device and isfinite(value)) or (
            m.unit is not None and not _units.ok(m.unit)
        ):
            return None
        if at is not last:  # samples of one time come together
            seconds.setdefault(at[0], index)
            last = at
        devices.append(device)
        values.append(value)
        ms.append(at[1])
        keys.append(key)
    return FastBatch(devices, values, ms, keys, seconds, body_batch_id(body))
