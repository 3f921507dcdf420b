"""The Prometheus HTTP API's parameter formats: times, durations, and the value strings of
its answers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

import promql_parser as pp

from fleetscope.query.promql.values import PromQLError


def parse_time(name: str, text: str | None, default_ms: int) -> int:
    """Epoch seconds (a float) or RFC 3339, as Prometheus' parseTime; ms."""
    if text is None or text == "":
        return default_ms
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise PromQLError(
                f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp'
            ) from None
        if when.tzinfo is None:
            raise PromQLError(f'invalid parameter "{name}": "{text}" has no time zone') from None
        return round(when.timestamp() * 1000)
    if not math.isfinite(seconds):
        raise PromQLError(f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp')
    return round(seconds * 1000)


def parse_step(name: str, text: str | None) -> int:
    """Seconds (a float) or a PromQL duration such as 15s or 1m30s; ms."""
    if text is None or text == "":
        raise PromQLError(f'invalid parameter "{name}": missing')
    try:
        seconds = float(text)
    except ValueError:
        try:
            return pp.parse_duration(text) // _MS
        except (ValueError, TypeError):
            raise PromQLError(
                f'invalid parameter "{name}": cannot parse "{text}" to a valid duration'
            ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise PromQLError(
            f'invalid parameter "{name}": zero or negative query resolution step widths are '
            "not accepted. Try a positive integer"
        )
    return round(seconds * 1000)


_MS = timedelta(milliseconds=1)


def format_value(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64), as Prometheus writes sample values."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
