"""What the direct (cli/accounts_direct.py) and the server mode (cli/accounts_remote.py) of
`fleetscope admin tenants|users|keys|collectors` share: the error they raise, the records
they answer, and how a record is shown (a table, or JSON for scripts)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]
Records = list[Record]


class AdminError(Exception):
    """A message for the user and the exit code: 2 for what they typed, 1 for the rest."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# The columns a table shows, per resource: (header, field). A record from the store names
# times <what>_ms (epoch milliseconds), the API's <what> or <what>_at (ISO 8601): the first
# field present is shown. --json shows every field as it came.
COLUMNS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "tenants": [
        ("ID", ("id",)),
        ("NAME", ("name",)),
        ("ACTIVE", ("active",)),
        ("CREATED", ("created_ms", "created")),
    ],
    "users": [
        ("ID", ("id",)),
        ("TENANT", ("tenant_id",)),
        ("USERNAME", ("username",)),
        ("ROLE", ("role",)),
        ("SUPERUSER", ("superuser",)),
        ("DISABLED", ("disabled",)),
        ("CREATED", ("created_ms", "created")),
    ],
    "keys": [
        ("ID", ("id",)),
        ("NAME", ("name",)),
        ("SCOPE", ("scope",)),
        ("PREFIX", ("prefix",)),
        ("HOST", ("bound_machine_id", "machine_id")),
        ("BY", ("created_by",)),
        ("CREATED", ("created_ms", "created")),
        ("LAST USED", ("last_used_ms", "last_used")),
        ("EXPIRES", ("expires_ms", "expires_at")),
        ("REVOKED", ("revoked_ms", "revoked_at")),
    ],
    "collectors": [
        ("ID", ("id",)),
        ("SITE", ("site",)),
        ("MACHINE", ("machine",)),
        ("PLATFORM", ("platform",)),
        ("CHIP", ("chip_maker",)),
        ("CPU", ("cpu_model",)),
        ("CORES", ("cores",)),
        ("MEMORY", ("memory_bytes",)),
        ("OWNER", ("owner",)),
        ("MACHINE ID", ("machine_id",)),
    ],
}

_GIB = 1 << 30
_TIME_FORMAT = "%Y-%m-%d %H:%M:%SZ"


def cell(field: str, value: Any) -> str:
    """A value as a table shows it: times in UTC to the second, memory in GiB, absent as -."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field.endswith("_ms") and isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC).strftime(_TIME_FORMAT)
    if field == "memory_bytes" and isinstance(value, int):
        return f"{value / _GIB:.1f} GiB"
    if isinstance(value, str) and "T" in value:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value).astimezone(UTC).strftime(_TIME_FORMAT)
    return str(value)


def _value(record: Record, fields: tuple[str, ...]) -> tuple[str, Any]:
    for field in fields:
        if field in record:
            return field, record[field]
    return fields[0], None


def table(resource: str, records: Sequence[Record]) -> str:
    """Aligned columns under a header; the header alone says there is nothing."""
    columns = COLUMNS[resource]
    rows = [[header for header, _ in columns]]
    rows += [[cell(*_value(record, fields)) for _, fields in columns] for record in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def as_json(value: Records | Record) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
