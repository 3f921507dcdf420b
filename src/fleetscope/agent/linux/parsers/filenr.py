"""Parser for /proc/sys/fs/file-nr (system-wide file handle usage)."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

_SOURCE = "/proc/sys/fs/file-nr"


@dataclass(frozen=True, slots=True)
class FileNr:
    """Allocated handles, allocated-but-unused ones, and fs.file-max. The middle number has
    been 0 since 2.6 (Documentation/admin-guide/sysctl/fs.rst) but is kept as the kernel wrote
    it; node_exporter skips it."""

    allocated: int
    unused: int
    maximum: int


def parse_file_nr(text: str) -> FileNr:
    line = text.strip()
    parts = line.split()
    if len(parts) != 3:
        raise ParseError(_SOURCE, 1, line, "expected three numbers")
    try:
        return FileNr(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError as exc:
        raise ParseError(_SOURCE, 1, line, "value is not an integer") from exc
