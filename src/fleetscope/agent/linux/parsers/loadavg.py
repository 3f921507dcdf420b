"""Parser for /proc/loadavg."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

_SOURCE = "/proc/loadavg"


@dataclass(frozen=True, slots=True)
class LoadAvg:
    load1: float
    load5: float
    load15: float


def parse_loadavg(text: str) -> LoadAvg:
    line = text.strip()
    parts = line.split()
    if len(parts) < 3:
        raise ParseError(_SOURCE, 1, line, "expected at least three load averages")
    try:
        return LoadAvg(float(parts[0]), float(parts[1]), float(parts[2]))
    except ValueError as exc:
        raise ParseError(_SOURCE, 1, line, "load average is not a number") from exc
