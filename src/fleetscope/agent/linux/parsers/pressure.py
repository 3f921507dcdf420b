"""Parser for /proc/pressure/{cpu,memory,io} (pressure stall information, kernel 4.20+).

Format: Documentation/accounting/psi.rst, one `some` line and, except for cpu before 5.13,
one `full` line: `some avg10=0.00 avg60=0.00 avg300=0.00 total=0`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

# `total` is in microseconds. node_exporter 1.5.0 (pressure_linux.go) converts with
# float64(total)/1000.0/1000.0, two divisions; a single /1e6 differs in the last bit
# (14036781 µs gives 14.036781000000001 its way, 14.036781 with /1e6), so we do the same.
US_PER_MS = 1000.0
MS_PER_S = 1000.0


@dataclass(frozen=True, slots=True)
class PressureLine:
    """Share of wall time (percent) stalled over the last 10, 60 and 300 s, and the
    cumulative stall time."""

    avg10_percent: float
    avg60_percent: float
    avg300_percent: float
    stalled_seconds_total: float


@dataclass(frozen=True, slots=True)
class Pressure:
    """`some`: at least one task stalled; `full`: all non-idle tasks stalled at once. `full` is
    None where the kernel does not write it (cpu before 5.13)."""

    some: PressureLine
    full: PressureLine | None


def _line(fields: list[str], source: str, line_no: int, line: str) -> PressureLine:
    values: dict[str, str] = {}
    for field in fields:
        key, sep, value = field.partition("=")
        if not sep:
            raise ParseError(source, line_no, line, f"expected key=value, got {field!r}")
        values[key] = value
    try:
        return PressureLine(
            avg10_percent=float(values["avg10"]),
            avg60_percent=float(values["avg60"]),
            avg300_percent=float(values["avg300"]),
            stalled_seconds_total=int(values["total"]) / US_PER_MS / MS_PER_S,
        )
    except KeyError as exc:
        raise ParseError(source, line_no, line, f"missing {exc.args[0]}") from exc
    except ValueError as exc:
        raise ParseError(source, line_no, line, "value is not a number") from exc


def parse_pressure(text: str, source: str = "/proc/pressure") -> Pressure:
    """`source` names the file (e.g. /proc/pressure/io) in errors."""
    lines: dict[str, PressureLine] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] not in ("some", "full"):
            raise ParseError(source, line_no, line, "expected a 'some' or 'full' line")
        lines[parts[0]] = _line(parts[1:], source, line_no, line)
    if "some" not in lines:
        raise ParseError(source, 0, text[:80], "no 'some' line")
    return Pressure(some=lines["some"], full=lines.get("full"))
