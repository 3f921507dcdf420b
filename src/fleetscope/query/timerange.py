"""Parsing the start_time/end_time query parameters: ISO-8601 or epoch seconds, UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


class BadTimeRange(ValueError):
    """The message is shown to the caller as-is (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return round(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return round(self.end.timestamp() * 1000)


def parse_time(value: str, name: str) -> datetime:
    text = value.strip()
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        pass  # not a number: try ISO-8601 next
    except (OverflowError, OSError) as exc:
        raise BadTimeRange(f"{name}={value[:80]!r} is out of range") from exc
    try:
        parsed = datetime.fromisoformat(
            text.replace("Z", "+00:00").replace(" ", "+", 1) if "T" in text else text
        )
    except ValueError as exc:
        raise BadTimeRange(
            f"{name}={value[:80]!r} is neither ISO-8601 (2026-11-22T08:00:00Z) nor epoch seconds"
        ) from exc
    # A time without an offset is taken as UTC, the only zone the API speaks. Converting
    # 0001-01-01T00:00:00+01:00 to UTC leaves the calendar: a 400 naming it, not a 500.
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError as exc:
        raise BadTimeRange(f"{name}={value[:80]!r} is out of range") from exc


def parse_range(start_time: str | None, end_time: str | None, now: datetime) -> TimeRange:
    if start_time is None:
        raise BadTimeRange("start_time is required (ISO-8601 or epoch seconds)")
    start = parse_time(start_time, "start_time")
    end = now if end_time is None else parse_time(end_time, "end_time")
    if end < start:
        raise BadTimeRange(
            f"end_time ({end.isoformat()}) is before start_time ({start.isoformat()})"
        )
    return TimeRange(start, end)
