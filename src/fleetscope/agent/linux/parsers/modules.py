"""Parser for /proc/modules: `name size instances deps state address [taints]` per loaded module
(kernel/module/procfs.c m_show). `deps` is `-` or a comma-terminated list of the modules that
use this one."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

_SOURCE = "/proc/modules"
_MIN_FIELDS = 5


@dataclass(frozen=True, slots=True)
class KernelModule:
    name: str
    size_bytes: int
    used_by: tuple[str, ...]
    state: str  # Live, Loading or Unloading


def parse_modules(text: str) -> list[KernelModule]:
    modules = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < _MIN_FIELDS:
            raise ParseError(_SOURCE, line_no, line, "expected at least 5 fields")
        try:
            size = int(fields[1])
        except ValueError as exc:
            raise ParseError(_SOURCE, line_no, line, "size is not an integer") from exc
        used_by = tuple(d for d in fields[3].split(",") if d and d != "-")
        modules.append(KernelModule(fields[0], size, used_by, fields[4]))
    return modules
