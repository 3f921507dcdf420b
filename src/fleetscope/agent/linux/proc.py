"""The only code in the Linux collectors that opens files under /proc.

`ProcFS(root)` reads /proc under a root given as an argument (like procfs' NewFS(mountPoint)
and node_exporter's --path.procfs), so the agent can watch a host mounted at /host/proc and
tests can point it at a fixture tree. The per-process files are read by its PidScanner
(pidscan.py); /sys is SysFS's (sysfs.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from fleetscope.agent.linux.fileio import on_procfs, read_file_text
from fleetscope.agent.linux.kept_files import KeptFiles
from fleetscope.agent.linux.parsers.cpuinfo import CpuInfo, parse_cpuinfo
from fleetscope.agent.linux.parsers.diskstats import DiskStats, parse_diskstats
from fleetscope.agent.linux.parsers.filenr import FileNr, parse_file_nr
from fleetscope.agent.linux.parsers.loadavg import LoadAvg, parse_loadavg
from fleetscope.agent.linux.parsers.meminfo import MemInfo, parse_meminfo
from fleetscope.agent.linux.parsers.modules import KernelModule, parse_modules
from fleetscope.agent.linux.parsers.mounts import Mount, parse_mounts
from fleetscope.agent.linux.parsers.netdev import NetDevStats, parse_net_dev
from fleetscope.agent.linux.parsers.pressure import Pressure, parse_pressure
from fleetscope.agent.linux.parsers.snmp import Snmp, parse_netstat, parse_snmp, parse_snmp6
from fleetscope.agent.linux.parsers.sockets import SocketTable, parse_socket_table
from fleetscope.agent.linux.parsers.sockstat import (
    SockStat,
    parse_sockstat,
    parse_sockstat_protocol,
)
from fleetscope.agent.linux.parsers.stat import Stat, parse_stat
from fleetscope.agent.linux.parsers.vmstat import (
    VmStat,
    VmStatSwap,
    parse_vmstat,
    parse_vmstat_headline,
    parse_vmstat_swap,
)
from fleetscope.agent.linux.pidscan import PidScanner, ProcessStatic
from fleetscope.agent.processes.sample import ProcessSample

log = logging.getLogger(__name__)

PSI_RESOURCES = ("cpu", "memory", "io")


class ProcFS:
    def __init__(
        self,
        root: str | Path = "/proc",
        page_size: int | None = None,
        max_kept_files: int | None = None,
        *,
        keep_open: bool = False,
    ) -> None:
        """`page_size` converts page counts (sockstat `mem`); by default this host's, which is
        the kernel that wrote the files even when /proc is a container's view of the host.
        `max_kept_files` bounds the per-process files kept open between scans on a live
        procfs (PidScanner); by default half the soft RLIMIT_NOFILE. `keep_open`: see
        kept_open."""
        self.root = Path(root)
        self.page_size = page_size if page_size is not None else os.sysconf("SC_PAGE_SIZE")
        self._files = KeptFiles() if keep_open else None
        self._scanner = PidScanner(self.root, max_kept_files)

    def kept_open(self) -> ProcFS:
        """A ProcFS over the same root whose files stay open between reads (KeptFiles), for
        a collector that reads the same files every cycle. Only on a live procfs: a fixture
        tree's files may be replaced between reads, so there this ProcFS itself. Not to be
        shared between threads, and closed with close()."""
        if not on_procfs(self.root):
            return self
        return ProcFS(self.root, self.page_size, keep_open=True)

    def read_text(self, relative: str) -> str:
        path = f"{self.root}/{relative}"
        if self._files is not None:
            return self._files.read(path).decode("utf-8", errors="replace")
        return read_file_text(path)

    def exists(self, relative: str) -> bool:
        return (self.root / relative).exists()

    def stat(self) -> Stat:
        return parse_stat(self.read_text("stat"))

    def meminfo(self) -> MemInfo:
        return parse_meminfo(self.read_text("meminfo"))

    def loadavg(self) -> LoadAvg:
        return parse_loadavg(self.read_text("loadavg"))

    def diskstats(self, skip: Callable[[str], bool] | None = None) -> dict[str, DiskStats]:
        return parse_diskstats(self.read_text("diskstats"), skip)

    def net_dev(self) -> dict[str, NetDevStats]:
        return parse_net_dev(self.read_text("net/dev"))

    def vmstat(self) -> VmStat:
        return parse_vmstat(self.read_text("vmstat"))

    def vmstat_headline(self) -> VmStat:
        return parse_vmstat_headline(self.read_text("vmstat"))

    def vmstat_swap(self) -> VmStatSwap:
        return parse_vmstat_swap(self.read_text("vmstat"))

    def file_nr(self) -> FileNr:
        return parse_file_nr(self.read_text("sys/fs/file-nr"))

    def pressure(self, resource: str) -> Pressure:
        """`resource` is cpu, memory or io. Raises FileNotFoundError before kernel 4.20 or
        without CONFIG_PSI, and OSError (EOPNOTSUPP) when booted with psi=0."""
        if resource not in PSI_RESOURCES:
            raise ValueError(f"unknown PSI resource {resource!r}")
        relative = f"pressure/{resource}"
        return parse_pressure(self.read_text(relative), f"/proc/{relative}")

    def sockstat(self) -> SockStat:
        return parse_sockstat(self.read_text("net/sockstat"), self.page_size)

    def sockstat_protocols(
        self, protocols: tuple[str, ...], ipv6: bool = False
    ) -> dict[str, dict[str, int] | None]:
        """parse_sockstat_protocol of each named protocol, from /proc/net/sockstat6 when
        `ipv6`, else /proc/net/sockstat."""
        relative = "net/sockstat6" if ipv6 else "net/sockstat"
        text = self.read_text(relative)
        source = f"/proc/{relative}"
        return {p: parse_sockstat_protocol(text, p, source) for p in protocols}

    def sockstat6(self) -> SockStat:
        text = self.read_text("net/sockstat6")
        return parse_sockstat(text, self.page_size, "/proc/net/sockstat6")

    def snmp(self) -> Snmp:
        return parse_snmp(self.read_text("net/snmp"))

    def netstat(self) -> dict[str, dict[str, int]]:
        return parse_netstat(self.read_text("net/netstat"))

    def snmp6(self) -> dict[str, int]:
        return parse_snmp6(self.read_text("net/snmp6"))

    def socket_table(self, name: str) -> SocketTable:
        """`name` is tcp, tcp6, udp or udp6. Costs time per socket; prefer sockstat/snmp."""
        if name not in ("tcp", "tcp6", "udp", "udp6"):
            raise ValueError(f"unknown socket table {name!r}")
        return parse_socket_table(self.read_text(f"net/{name}"), f"/proc/net/{name}")

    def cpuinfo(self) -> CpuInfo:
        return parse_cpuinfo(self.read_text("cpuinfo"))

    def close(self, timeout_seconds: float = 1.0) -> None:
        """Close the files kept open between reads and scans, and keep no per-process files
        from now on.
        A scan still running after `timeout_seconds` (one stuck reading a process's cmdline)
        keeps them: they are closed when the process ends."""
        if self._scanner.close(timeout_seconds) and self._files is not None:
            self._files.close()

    # Per-process reading, /proc/<pid>/*: the PidScanner's.

    def pids(self) -> list[int]:
        return self._scanner.pids()

    def process(
        self,
        pid: int,
        *,
        boot_time_seconds: float,
        page_size: int,
        username_of: Callable[[int], str | None] | None = None,
        known: dict[int, ProcessStatic] | None = None,
    ) -> ProcessSample | None:
        """One process (PidScanner.process); None if it exited while being read."""
        return self._scanner.process(
            pid,
            boot_time_seconds=boot_time_seconds,
            page_size=page_size,
            username_of=username_of,
            known=known,
        )

    def processes(
        self,
        *,
        page_size: int | None = None,
        username_of: Callable[[int], str | None] | None = None,
        known: dict[int, ProcessStatic] | None = None,
    ) -> dict[int, ProcessSample]:
        """Every process that is still there when its files are read, by pid. `page_size`
        defaults to this host's, which is right only when the root is this host's /proc.
        `known` (see `process`) is kept between scans by the caller; entries of processes
        gone by this scan are dropped from it."""
        return self._scanner.processes(self._boot_time_seconds, page_size, username_of, known)

    def _boot_time_seconds(self) -> float:
        return self.stat().boot_time_seconds

    def mounts(self) -> list[Mount]:
        """The mounts of PID 1's namespace (the host's, when the agent runs in a container
        with the host's /proc), like node_exporter 1.5.0; /proc/mounts (the agent's own view)
        when /proc/1 is hidden (mounted with hidepid) or unreadable."""
        return parse_mounts(*self.mount_table())

    def mount_table(self) -> tuple[str, str]:
        """(text, source name) of the mount table `mounts` parses, for a caller that parses
        it only when it changed."""
        try:
            return self.read_text("1/mounts"), "/proc/1/mounts"
        except (FileNotFoundError, PermissionError) as exc:
            log.debug("reading /proc/1/mounts failed, falling back to /proc/mounts: %s", exc)
            return self.read_text("mounts"), "/proc/mounts"

    def modules(self) -> list[KernelModule]:
        return parse_modules(self.read_text("modules"))

    def kernel_release(self) -> str:
        return self.read_text("sys/kernel/osrelease").strip()
