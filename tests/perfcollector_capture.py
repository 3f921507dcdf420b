"""A perfcollector capture (agent/perfcollector.py's format) built from the fixture /proc tree,
for the tests of POST /v1/upload and of digest's side of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.conftest import REPO_ROOT

PROC = REPO_ROOT.parent / "shared/fixtures/procfs/tree/proc"
SYSTEMS = ("stat", "meminfo", "diskstats", "net/dev")


def capture(cycles: int = 3, start: datetime | None = None) -> bytes:
    """A perfcollector capture (agent/perfcollector.py's format) of the fixture /proc tree."""
    start = start or datetime.now(UTC) - timedelta(minutes=5)
    lines = []
    for cycle in range(cycles):
        stamp = (start + timedelta(seconds=5 * cycle)).strftime("%Y-%m-%dT%H:%M:%S.%f")
        for system in SYSTEMS:
            record = {
                "Site": 1,
                "Host": 0,
                "Run": 0,
                "Measurement": {
                    "Timestamp": stamp + "123Z",
                    "Frequency": 5_000_000_000,
                    "System": f"/proc/{system}",
                    "Measurement": (PROC / system).read_text(),
                },
            }
            lines.append(json.dumps(record).encode())
    return b"\n".join(lines) + b"\n"
