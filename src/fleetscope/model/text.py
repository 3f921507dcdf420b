"""What any text that reaches a store may contain, checked at the door (the payload's msgspec
types, the device models, ingest) and published in the payload's JSON Schema.

Names (hostnames, machine ids, metric, label, device and group names) carry no control
characters: C0, DEL and C1 are invisible in the dashboard, break logs and terminals, and
PostgreSQL refuses U+0000 in text outright (a NUL once stalled the scaled digest). Free text
(command lines, error messages, inventory strings) may carry tabs and newlines, never U+0000.
`/` is allowed in names: the read routes take such names (issue 14 item 3)."""

from __future__ import annotations

import re

# JSON Schema (ECMA-262) and Python read these patterns alike.
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
TEXT_PATTERN = r"^[^\x00]*$"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

NAME_RULE = "must not contain control characters (U+0000-U+001F, U+007F-U+009F)"
TEXT_RULE = "must not contain U+0000"


def control_error(value: str) -> str | None:
    """Why `value` may not be a name, or None."""
    found = _CONTROL.search(value)
    return None if found is None else f"{NAME_RULE}; found U+{ord(found[0]):04X}"


def escape_controls(value: str) -> str:
    """`value` with each control character spelt as \\xNN: how the agent turns a name it does
    not control (a process's comm, which any process may set with prctl) into one the server
    accepts, instead of losing the whole snapshot to a refused name."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", value)
