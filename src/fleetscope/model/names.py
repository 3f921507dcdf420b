"""The one rule for the name of a host or device, checked wherever one is written: the agent's
hostname (model/payload.py), an aggregator or pushed device (model/devices.py).

A name is read back by the same text (GET /api/v1/reports/metrics/{name}, URL-encoded: `/`,
spaces, `%`, `?`, `#` and any Unicode letter are fine), so only what cannot be shown or
typed back is refused: the empty name, control characters (C0, DEL and C1), spaces around it,
and names longer than MAX_NAME_LENGTH characters (the hosts.name column).
"""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_name(value: str) -> str:
    """The name itself, or ValueError saying what is wrong with it."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters (has {len(value)})")
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"must not contain control characters (U+{ord(found.group()):04X} at {found.start()})"
        )
    if value != value.strip():
        raise ValueError("must not have surrounding spaces")
    return value


# Metric and label names (aggregator API): any UTF-8 text, as Prometheus 3 takes them, but
# not empty, no control characters, and label names starting with "__" stay reserved.
MAX_METRIC_NAME_LENGTH = 200
MAX_LABEL_NAME_LENGTH = 128
_NOT_CLASSIC = re.compile(r"[^a-zA-Z0-9_:]")


def check_metric_name(value: str) -> str:
    return _check_series_name(value, MAX_METRIC_NAME_LENGTH)


def check_label_name(value: str) -> str:
    if value.startswith("__"):
        raise ValueError(f"label name {value[:64]!r}: names starting with '__' are reserved")
    try:
        return _check_series_name(value, MAX_LABEL_NAME_LENGTH)
    except ValueError as exc:
        raise ValueError(f"label name {value[:64]!r}: {exc}") from None


def _check_series_name(value: str, longest: int) -> str:
    if not value:
        raise ValueError("must not be empty")
    if len(value) > longest:
        raise ValueError(f"must be at most {longest} characters (has {len(value)})")
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"must not contain control characters (U+{ord(found.group()):04X} at {found.start()})"
        )
    return value


def prometheus2_name(name: str) -> str:
    """The Prometheus-2-style name for a metric stored under a dotted or UTF-8 name, for a
    consumer that takes only [a-zA-Z_:][a-zA-Z0-9_:]* (docs/data-model.md, "Metric names"):
    every other character becomes "_" (one per character), and a leading digit gets a "_"
    before it. Prometheus' own UnderscoreEscaping does the same; like it, it can map two
    names to one ("a.b" and "a_b")."""
    legacy = _NOT_CLASSIC.sub("_", name)
    return "_" + legacy if legacy[:1].isdigit() else legacy
