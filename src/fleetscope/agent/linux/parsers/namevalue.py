"""The `name value` per line format of /proc/vmstat and /proc/net/snmp6."""

from __future__ import annotations

from fleetscope.agent.linux.errors import ParseError


def parse_name_values(text: str, source: str) -> dict[str, int]:
    """Integer counters by the kernel's names; blank lines are skipped."""
    values: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ParseError(source, line_no, line, "expected 'name value'")
        try:
            values[parts[0]] = int(parts[1])
        except ValueError as exc:
            raise ParseError(source, line_no, line, "value is not an integer") from exc
    return values
