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
