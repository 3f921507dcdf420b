"""Series keys: the metric name plus its labels in Prometheus text form, e.g.
`cpu_core_seconds_total{cpu="0",mode="user"}`, built once per record type, prefix and labels
and kept (model/series.py flattens snapshots with them).
"""

from __future__ import annotations

import operator
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import Struct

Labels = tuple[tuple[str, str], ...]
# A Struct's fields in order, each with its series key, or None when the field is no series.
Keys = tuple[str | None, ...]

EXPORTER_LABEL = "exporter"
# Prometheus renames a scraped label that collides with a target label the same way
# (honor_labels: false): `exporter` from the exporter becomes `exported_exporter`.
_EXPORTED_EXPORTER_LABEL = "exported_exporter"


def series_key(name: str, labels: dict[str, str] | None = None) -> str:
    """Prometheus text form. A name outside the classic character set (a dotted or UTF-8 name)
    is quoted as Prometheus 3 writes it: `{"cpu.usage_user",host="a"}`, `up{"host.name"="a"}`;
    classic names keep their form, so stored layouts do not change."""
    inner = ",".join(f'{_label_name(k)}="{_escape(v)}"' for k, v in sorted((labels or {}).items()))
    if _CLASSIC_METRIC.fullmatch(name):
        return f"{name}{{{inner}}}" if inner else name
    quoted = f'"{_escape(name)}"'
    return f"{{{quoted},{inner}}}" if inner else f"{{{quoted}}}"


def split_series_key(key: str) -> tuple[str, dict[str, str]]:
    """Inverse of series_key."""
    if key.startswith("{"):
        name, i = _quoted(key, 1)
    else:
        name, brace, _ = key.partition("{")
        if not brace:
            return name, {}
        i = len(name)
    labels: dict[str, str] = {}
    while key[i] != "}":
        i += 1  # the "{" or "," before a label
        if key[i] == '"':
            label, i = _quoted(key, i)
        else:
            eq = key.index("=", i)
            label, i = key[i:eq], eq
        labels[label], i = _quoted(key, i + 1)  # past the "="
    return name, labels


_CLASSIC_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_CLASSIC_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _label_name(name: str) -> str:
    return name if _CLASSIC_LABEL.fullmatch(name) else f'"{_escape(name)}"'


def _quoted(key: str, i: int) -> tuple[str, int]:
    """The escaped string that starts with the quote at key[i], and the index past its end."""
    chars: list[str] = []
    j = i + 1
    while key[j] != '"':
        if key[j] == "\\":
            j += 1
            chars.append("\n" if key[j] == "n" else key[j])
        else:
            chars.append(key[j])
        j += 1
    return "".join(chars), j + 1


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# Digest flattens every snapshot it stores, and building the same key strings again (sorting
# labels, escaping, formatting) was most of that cost; the keys of a record depend only on its
# type, prefix and labels, so they are built once and kept. Cleared when full: exporters'
# labels are not bounded.
_KEYS: dict[tuple[object, ...], Keys] = {}
_MAX_CACHED_KEYS = 50_000


def record_keys(
    record: type[Struct],
    name: str,
    labels: Labels = (),
    skip: frozenset[str] = frozenset(),
    label: str | None = None,
) -> Keys:
    """`<name>_<field>{labels}` for every field of `record` but `skip`; with `label`, the
    name is `name` itself and the field becomes that label (`cpu_seconds_total{mode="user"}`)."""
    cache_key = (record, name, labels, skip, label)
    keys = _KEYS.get(cache_key)
    if keys is None:
        if len(_KEYS) >= _MAX_CACHED_KEYS:
            _KEYS.clear()
        keys = tuple(
            None
            if field in skip
            else series_key(f"{name}_{field}", dict(labels))
            if label is None
            else series_key(name, {**dict(labels), label: field})
            for field in record.__struct_fields__
        )
        _KEYS[cache_key] = keys
    return keys


def one_key(name: str, labels: Labels) -> str:
    """series_key, kept like record_keys for the one-off series (collectors, temperatures)."""
    cache_key = (name, labels)
    keys = _KEYS.get(cache_key)
    if keys is None:
        if len(_KEYS) >= _MAX_CACHED_KEYS:
            _KEYS.clear()
        keys = _KEYS[cache_key] = (series_key(name, dict(labels)),)
    key = keys[0]
    assert key is not None
    return key


@dataclass(frozen=True, slots=True)
class RecordPlan:
    """How records of one type flatten under one prefix and labels.

    numeric: every field with a key holds a number or None (a bool too when bools become 1/0),
    so a record always gives exactly `keys`, and `read` takes their values in C. Otherwise some
    keyed field is a string, a Struct or a bool that is no series, each of which is a series
    only when it is None (model/series.py `_emit`), so each value has to be looked at: `fields`
    holds every field's key or None, in field order."""

    keys: tuple[str, ...]
    fields: Keys
    read: Callable[[Any], tuple[Any, ...]]
    numeric: bool


_PLANS: dict[tuple[object, ...], RecordPlan] = {}


def record_plan(  # noqa: PLR0917 (record_keys' arguments and bools)
    record: type[Struct],
    name: str,
    labels: Labels = (),
    skip: frozenset[str] = frozenset(),
    label: str | None = None,
    bools: bool = False,
) -> RecordPlan:
    cache_key = (record, name, labels, skip, label, bools)
    plan = _PLANS.get(cache_key)
    if plan is None:
        if len(_PLANS) >= _MAX_CACHED_KEYS:
            _PLANS.clear()
        fields = record_keys(record, name, labels, skip, label)
        infos = msgspec.structs.fields(record)
        keyed = [(key, info.name) for key, info in zip(fields, infos, strict=True) if key]
        names = [field for _, field in keyed]
        read: Callable[[Any], tuple[Any, ...]]
        if len(names) == 1:
            one = operator.attrgetter(names[0])
            read = lambda r: (one(r),)  # noqa: E731 (attrgetter of one name gives no tuple)
        elif names:
            read = operator.attrgetter(*names)
        else:
            read = lambda r: ()  # noqa: E731
        numeric = all(
            _numeric(info.type, bools)
            for key, info in zip(fields, infos, strict=True)
            if key is not None
        )
        plan = RecordPlan(tuple(key for key, _ in keyed), fields, read, numeric)
        _PLANS[cache_key] = plan
    return plan


def _numeric(tp: Any, bools: bool) -> bool:
    """Whether a field of this type always flattens to a float or None."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _numeric(typing.get_args(tp)[0], bools)
    if origin is typing.Union or origin is types.UnionType:
        return all(_numeric(arg, bools) for arg in typing.get_args(tp))
    if tp is type(None):
        return True
    if tp is bool:
        return bools
    return tp is int or tp is float


def exporter_key(target: str, name: str, labels: Labels) -> str:
    cache_key = ("exporter", target, name, labels)
    keys = _KEYS.get(cache_key)
    if keys is None:
        if len(_KEYS) >= _MAX_CACHED_KEYS:
            _KEYS.clear()
        renamed = dict(labels)
        if EXPORTER_LABEL in renamed:
            renamed[_EXPORTED_EXPORTER_LABEL] = renamed.pop(EXPORTER_LABEL)
        keys = _KEYS[cache_key] = (
            series_key(f"exporter_{name}", {**renamed, EXPORTER_LABEL: target}),
        )
    key = keys[0]
    assert key is not None
    return key
