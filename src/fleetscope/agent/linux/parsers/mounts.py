"""Parser for /proc/<pid>/mounts (also /proc/mounts, /etc/mtab): one mount per line,
`device mountpoint fstype options dump pass`, as written by fs/proc_namespace.c show_vfsmnt().

The kernel escapes space, tab, newline and backslash in the first three fields as 3-digit
octal (`\\040`, `\\011`, `\\012`, `\\134`; fstab(5)), so a mount point with a space stays one
field. node_exporter 1.5.0 (parseFilesystemLabels) undoes only `\\040` and `\\011` and only in
the mount point; undoing every octal escape in every field gives the same labels for those and
the right text for the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

_OCTAL = re.compile(r"\\([0-7]{3})")
_MIN_FIELDS = 4  # dump and pass are optional in /etc/mtab-style files


@dataclass(frozen=True, slots=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]

    @property
    def readonly(self) -> bool:
        return "ro" in self.options


def unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str, source: str = "/proc/1/mounts") -> list[Mount]:
    mounts = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < _MIN_FIELDS:
            raise ParseError(source, line_no, line, "expected at least 4 fields")
        device, mountpoint, fstype, options = (unescape(f) for f in fields[:_MIN_FIELDS])
        mounts.append(Mount(device, mountpoint, fstype, tuple(options.split(","))))
    return mounts
