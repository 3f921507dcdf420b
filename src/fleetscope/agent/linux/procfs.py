"""The only code in the Linux collectors that opens files.

`ProcFS(root)` reads /proc and `SysFS(root)` reads /sys under a root given as an argument
(like procfs' NewFS(mountPoint) and node_exporter's --path.procfs), so the agent can watch a
host mounted at /host/proc and tests can point it at a fixture tree.
"""

from __future__ import annotations

from pathlib import Path

from fleetscope.agent.linux.parsers.loadavg import LoadAvg, parse_loadavg
from fleetscope.agent.linux.parsers.meminfo import MemInfo, parse_meminfo
from fleetscope.agent.linux.parsers.stat import Stat, parse_stat


class ProcFS:
    def __init__(self, root: str | Path = "/proc") -> None:
        self.root = Path(root)

    def read_text(self, relative: str) -> str:
        # Files under /proc report size 0, so read() until EOF rather than trusting stat().
        with open(self.root / relative, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def exists(self, relative: str) -> bool:
        return (self.root / relative).exists()

    def stat(self) -> Stat:
        return parse_stat(self.read_text("stat"))

    def meminfo(self) -> MemInfo:
        return parse_meminfo(self.read_text("meminfo"))

    def loadavg(self) -> LoadAvg:
        return parse_loadavg(self.read_text("loadavg"))


class SysFS:
    def __init__(self, root: str | Path = "/sys") -> None:
        self.root = Path(root)

    def read_text(self, relative: str) -> str:
        with open(self.root / relative, encoding="utf-8", errors="replace") as handle:
            return handle.read()
