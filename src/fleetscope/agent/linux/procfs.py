"""The only code in the Linux collectors that opens files.

`ProcFS(root)` reads /proc and `SysFS(root)` reads /sys under a root given as an argument
(like procfs' NewFS(mountPoint) and node_exporter's --path.procfs), so the agent can watch a
host mounted at /host/proc and tests can point it at a fixture tree.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import resource
import threading
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetscope.agent.linux.parsers.block import BLOCK_FILES, BlockDevice, parse_block_device
from fleetscope.agent.linux.parsers.cpufreq import CPUFREQ_FILES, CpuFreq, parse_cpufreq
from fleetscope.agent.linux.parsers.cpuinfo import CpuInfo, parse_cpuinfo
from fleetscope.agent.linux.parsers.diskstats import DiskStats, parse_diskstats
from fleetscope.agent.linux.parsers.dmi import DMI_FILES, parse_dmi
from fleetscope.agent.linux.parsers.edac import DIMM_FILES, Dimm, parse_dimm
from fleetscope.agent.linux.parsers.filenr import FileNr, parse_file_nr
from fleetscope.agent.linux.parsers.hwmon import (
    HwmonChip,
    hwmon_chip,
    hwmon_chip_name,
    parse_hwmon_chip,
    split_attribute,
)
from fleetscope.agent.linux.parsers.loadavg import LoadAvg, parse_loadavg
from fleetscope.agent.linux.parsers.meminfo import MemInfo, parse_meminfo
from fleetscope.agent.linux.parsers.modules import KernelModule, parse_modules
from fleetscope.agent.linux.parsers.mounts import Mount, parse_mounts
from fleetscope.agent.linux.parsers.netclass import NET_CLASS_FILES, NetClass, parse_net_class
from fleetscope.agent.linux.parsers.netdev import NetDevStats, parse_net_dev
from fleetscope.agent.linux.parsers.pci import PCI_FILES, PciDevice, parse_pci_device
from fleetscope.agent.linux.parsers.pressure import Pressure, parse_pressure
from fleetscope.agent.linux.parsers.proc_pid import (
    PidIO,
    PidStat,
    PidStatus,
    parse_cmdline,
    parse_pid_io,
    parse_pid_limits,
    parse_pid_stat,
    parse_pid_status,
)
from fleetscope.agent.linux.parsers.snmp import Snmp, parse_netstat, parse_snmp, parse_snmp6
from fleetscope.agent.linux.parsers.sockets import SocketTable, parse_socket_table
from fleetscope.agent.linux.parsers.sockstat import (
    SockStat,
    parse_sockstat,
    parse_sockstat_protocol,
)
from fleetscope.agent.linux.parsers.stat import Stat, parse_stat
from fleetscope.agent.linux.parsers.thermal import (
    COOLING_DEVICE_FILES,
    THERMAL_ZONE_FILES,
    CoolingDevice,
    ThermalZone,
    parse_cooling_device,
    parse_thermal_zone,
)
from fleetscope.agent.linux.parsers.vmstat import (
    VmStat,
    VmStatSwap,
    parse_vmstat,
    parse_vmstat_headline,
    parse_vmstat_swap,
)
from fleetscope.agent.processes.sample import ProcessSample

log = logging.getLogger(__name__)

PSI_RESOURCES = ("cpu", "memory", "io")
# What /sys/class/net attributes answer when the value does not exist right now: EINVAL for
# carrier/speed/duplex of a down interface (net/core/net-sysfs.c), EOPNOTSUPP from drivers
# without ethtool link settings, ENODATA from some virtual drivers.
_NET_ATTRIBUTE_UNAVAILABLE = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENODATA})
_CPU_DIR = re.compile(r"^cpu([0-9]+)$")


# Reads continue until one returns nothing: a seq_file hands out at most its buffer (a page at
# first) per read() whatever was asked (fs/seq_file.c seq_read_iter), so a short read is not
# the end of /proc/net/tcp.
_READ_BYTES = 16384


def _read_bytes(path: str) -> bytes:
    """The whole file. os.open/os.read rather than open(): no buffered file object per file,
    17 against 23 us per small /proc file here (timeit). Files under /proc and /sys report
    size 0, so this reads until EOF rather than trusting stat()."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _read_fd(fd)
    finally:
        os.close(fd)


def _read_fd(fd: int) -> bytes:
    data = os.read(fd, _READ_BYTES)
    if not data:
        return data
    chunks = [data]
    while chunk := os.read(fd, _READ_BYTES):
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_text(path: str) -> str:
    return _read_bytes(path).decode("utf-8", errors="replace")


# The per-process files every scan reads, kept open between scans on a live procfs
# (ProcFS._pid_bytes); cmdline and limits are read once per process (ProcessStatic).
_KEPT_FILES = frozenset({"stat", "status", "io"})


def _keep_budget() -> int:
    """How many per-process files may stay open: half the soft RLIMIT_NOFILE, leaving the
    rest to everything else the agent opens (spool, sockets, files of other collectors).
    At systemd's default soft limit of 1024 that keeps the three files and the fd/ handle
    (_fd_dir_size) of 128 processes; those of processes beyond the budget are opened and
    closed each scan, as before."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft // 2


class _KeptFiles:
    """Files read every cycle, kept open and read again with pread at offset 0, which makes
    a seq_file (every /proc file a collector reads) show afresh: /proc/net/dev read and
    decoded took 12.5 against 25.7 us here, the difference being the open's path walk and
    the close. For one collector's private
    ProcFS (ProcFS.kept_open): a file is closed only by the thread that reads it.

    A kept file that fails to read is closed and opened again by path, so an error is the
    one a fresh open gives, as are the contents after a file was replaced."""

    # A collector reads a handful of /proc files; a bound keeps a caller that reads many
    # different paths from holding them all open.
    LIMIT = 32

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        weakref.finalize(self, _close_kept, self._fds)

    def read(
        self, path: str, no_value_now: frozenset[int] = frozenset(), *, one_page: bool = False
    ) -> bytes:
        """`no_value_now`: errnos with which a read says the file has no value at the moment
        (a sysfs attribute of a link that is down answers EINVAL) rather than that it is
        broken; the file then stays open (or is kept) and the error is raised. `one_page`: a
        sysfs attribute, whose value is one show() into a page, so a kept one is read with a
        single pread (_pread_all) instead of a second one that only finds the end."""
        fd = self._fds.get(path)
        if fd is not None:
            try:
                return _pread_all(fd) if one_page else _pread_to_end(fd)
            except OSError as exc:
                if exc.errno in no_value_now:
                    raise
                log.debug("kept file %s unreadable (%s); opening it again", path, exc)
                del self._fds[path]
                os.close(fd)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        keep = len(self._fds) < self.LIMIT
        try:
            data = _read_fd(fd)
        except OSError as exc:
            if keep and exc.errno in no_value_now:
                self._fds[path] = fd
            else:
                os.close(fd)
            raise
        except BaseException:
            os.close(fd)
            raise
        if keep:
            self._fds[path] = fd
        else:
            os.close(fd)
        return data

    def forget(self, prefix: str) -> None:
        """Close the kept files whose path starts with `prefix`."""
        for path in [path for path in self._fds if path.startswith(prefix)]:
            os.close(self._fds.pop(path))

    def close(self) -> None:
        _close_kept(self._fds)


def _close_kept(kept: dict[Any, int]) -> None:
    for fd in kept.values():
        os.close(fd)
    kept.clear()


def _pread_to_end(fd: int) -> bytes:
    """The whole file from offset 0, read until a read returns nothing (a seq_file may hand
    out a page per read, see _READ_BYTES)."""
    data = os.pread(fd, _READ_BYTES, 0)
    if not data:
        return data
    chunks = [data]
    offset = len(data)
    while chunk := os.pread(fd, _READ_BYTES, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _pread_all(fd: int) -> bytes:
    """A single_open /proc/<pid> file from offset 0: a read shorter than asked is all of it
    (ProcFS._pid_bytes)."""
    data = os.pread(fd, _READ_BYTES, 0)
    if len(data) < _READ_BYTES:
        return data
    chunks = [data]
    while chunk := os.pread(fd, _READ_BYTES, sum(map(len, chunks))):
        chunks.append(chunk)
    return b"".join(chunks)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class _LastRead:
    """A process's files as the last scan read them, with what was parsed from them. Most
    processes are idle between scans (10 s apart, about 3 in 4 stat, 2 in 3 status and 4 in
    5 io files of this host's processes were byte-identical): their parsed records, and then
    the sample built from them, are reused when the bytes are the same. Parsers are pure, so
    that is the same result."""

    stat_data: bytes
    stat: PidStat
    status_data: bytes
    status: PidStatus
    io_data: bytes | None
    io: PidIO | None
    page_size: int
    static: ProcessStatic
    sample: ProcessSample


@dataclass(frozen=True, slots=True)
class ProcessStatic:
    """What a process keeps for its whole life, read once per process and reused while the
    same process (pid and start time) runs the same program (comm: an exec changes it).
    argv rewritten later (setproctitle) or a limit raised with prlimit(1) shows only for a new
    process; process-exporter, too, reads a process's name-giving fields once."""

    start_token: int
    name: str
    cmdline: tuple[str, ...]
    exe: str | None
    max_fds: int | None


def _on_procfs(root: Path) -> bool:
    """Whether `root` is a mounted proc filesystem (not a fixture tree): the mount that holds
    it, per this process's mountinfo (proc(5)), has type proc."""
    return _mount_type(root) == "proc"


def _mount_type(root: Path) -> str:
    """The filesystem type of the mount that holds `root`, per this process's mountinfo;
    "" when that cannot be read."""
    try:
        target = os.path.realpath(root)
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        log.debug("cannot tell the filesystem of %s: %s", root, exc)
        return ""
    best, fstype = "", ""
    for line in lines:
        fields, _, after = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not after:
            continue
        mountpoint = parts[4]
        inside = target == mountpoint or target.startswith(mountpoint.rstrip("/") + "/")
        if inside and len(mountpoint) >= len(best):
            best, fstype = mountpoint, after.split()[0]
    return fstype


def _numbered(directory: Path, prefix: str) -> list[tuple[str, Path]]:
    """(suffix, path) of the entries `<prefix><suffix>` in a directory, sorted like the kernel
    numbers them (thermal_zone2 before thermal_zone10).

    A missing class directory means the kernel has no such devices (VMs commonly have no
    /sys/class/hwmon), which is an empty answer, not an error."""
    if not directory.is_dir():
        log.debug("%s does not exist: no devices of this class", directory)
        return []
    entries = [
        (entry.name[len(prefix) :], Path(entry.path))
        for entry in os.scandir(directory)
        if entry.name.startswith(prefix)
    ]
    return sorted(entries, key=lambda item: (len(item[0]), item[0]))


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
        procfs (_pid_bytes); by default half the soft RLIMIT_NOFILE. `keep_open`: see
        kept_open."""
        self.root = Path(root)
        self.page_size = page_size if page_size is not None else os.sysconf("SC_PAGE_SIZE")
        self._files = _KeptFiles() if keep_open else None
        self._fd_size_counts: bool | None = None
        # Whether a non-zero fd/ size was seen: the kernel counts, so 0 is a real zero.
        self._fd_size_seen = False
        self._last: dict[int, _LastRead] = {}
        # (pid, file) -> descriptor kept open between scans (see _pid_bytes), up to the
        # budget, which is 0 until the first scan has found the root to be a live procfs.
        self._kept: dict[tuple[int, str], int] = {}
        self._max_kept = max_kept_files
        self._keep_budget: int | None = None
        # Held by a scan, so close() from another thread cannot close a kept descriptor
        # under it (its number could be reused by an unrelated open before the read).
        self._scanning = threading.Lock()
        # A ProcFS dropped without close() (a one-off scan) must not leave its files open.
        weakref.finalize(self, _close_kept, self._kept)

    def kept_open(self) -> ProcFS:
        """A ProcFS over the same root whose files stay open between reads (_KeptFiles), for
        a collector that reads the same files every cycle. Only on a live procfs: a fixture
        tree's files may be replaced between reads, so there this ProcFS itself. Not to be
        shared between threads, and closed with close()."""
        if not _on_procfs(self.root):
            return self
        return ProcFS(self.root, self.page_size, keep_open=True)

    def read_text(self, relative: str) -> str:
        path = f"{self.root}/{relative}"
        if self._files is not None:
            return self._files.read(path).decode("utf-8", errors="replace")
        return _read_text(path)

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

    # Per-process reading, /proc/<pid>/*. Paths are built as strings: a full scan opens
    # about 6 files per process, and opening /proc/<pid>/stat through `root / str(pid) / name`
    # took 26 us against 15 us with an f-string here (timeit, Python 3.11).

    def pids(self) -> list[int]:
        return sorted(int(name) for name in os.listdir(self.root) if name.isdigit())

    def _pid_bytes(self, pid: int, name: str) -> bytes:
        """One /proc/<pid> file. stat, status, io and limits are single_open seq_files
        (fs/proc/base.c ONE(), proc_single_show): the first read() grows the buffer until the
        whole text fits and returns it all, up to the count asked; cmdline copies until the
        count or the arguments end. So a read shorter than asked is the whole file, which
        saves the read() at EOF (one syscall in four of a scan); a regular file (a fixture)
        reads short only at its end too.

        On a live procfs the files every scan reads (_KEPT_FILES) stay open between scans
        and are read again with pread at offset 0, which makes a seq_file show afresh: that
        saves an open and a close per file, half the kernel time of a scan (3.6 against
        7.4 ms for 142 processes here). The descriptor holds the process it was opened for:
        once that one has exited, a read fails with ESRCH (proc_single_show finds no task),
        and the file is opened again by path, which names whatever process has the pid now
        (the same outcome as a fresh open: that process, or FileNotFoundError)."""
        key = (pid, name)
        fd = self._kept.get(key)
        if fd is not None:
            try:
                return _pread_all(fd)
            except ProcessLookupError:
                self._forget_pid(pid)  # all its kept files name the exited process
        fd = os.open(f"{self.root}/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, _READ_BYTES)
            if len(data) == _READ_BYTES:
                chunks = [data]
                while chunk := os.read(fd, _READ_BYTES):
                    chunks.append(chunk)
                data = b"".join(chunks)
        except BaseException:
            os.close(fd)
            raise
        if name in _KEPT_FILES and len(self._kept) < (self._keep_budget or 0):
            self._kept[key] = fd
        else:
            os.close(fd)
        return data

    def _forget_pid(self, pid: int) -> None:
        for name in (*_KEPT_FILES, "fd"):
            fd = self._kept.pop((pid, name), None)
            if fd is not None:
                os.close(fd)

    def _forget_pids(self, live: Collection[int]) -> None:
        """Close the kept files of processes not in `live` (gone since the last scan)."""
        for key in [k for k in self._kept if k[0] not in live]:
            os.close(self._kept.pop(key))

    def close(self, timeout_seconds: float = 1.0) -> None:
        """Close the files kept open between reads and scans, and keep no per-process files
        from now on.
        A scan still running after `timeout_seconds` (one stuck reading a process's cmdline)
        keeps them: they are closed when the process ends."""
        if not self._scanning.acquire(timeout=timeout_seconds):
            log.warning("a process scan is still running; its open files stay open")
            return
        try:
            self._keep_budget = 0
            self._forget_pids(())
            if self._files is not None:
                self._files.close()
        finally:
            self._scanning.release()

    def _pid_text(self, pid: int, name: str) -> str:
        return self._pid_bytes(pid, name).decode("utf-8", errors="replace")

    def process(
        self,
        pid: int,
        *,
        boot_time_seconds: float,
        page_size: int,
        username_of: Callable[[int], str | None] | None = None,
        known: dict[int, ProcessStatic] | None = None,
    ) -> ProcessSample | None:
        """Read one process; None if it exited while being read (a race, not an error).

        io and fd/ need ptrace access (another user's process, without root): those fields
        are then None. exe is None for kernel threads and on the same permission rule. A
        malformed file raises ParseError.

        `known` caches each process's cmdline, exe and fd limit by pid (ProcessStatic says
        when an entry still holds); this call reads them only when the entry does not hold,
        and stores what it read.
        """
        root = self.root
        last = self._last.get(pid)
        try:
            stat_data = self._pid_bytes(pid, "stat")
            if last is not None and last.stat_data == stat_data and last.page_size == page_size:
                stat = last.stat
            else:
                stat = parse_pid_stat(_text(stat_data), page_size, source=f"{root}/{pid}/stat")
            static = None if known is None else known.get(pid)
            if static is None or static.start_token != stat.start_ticks or static.name != stat.comm:
                static = self._pid_static(pid, stat.start_ticks, stat.comm)
                if known is not None:
                    known[pid] = static
            status_data = self._pid_bytes(pid, "status")
            if last is not None and last.status_data == status_data:
                status = last.status
            else:
                status = parse_pid_status(_text(status_data), source=f"{root}/{pid}/status")
            io_data, io = self._pid_io(pid, last)
            try:
                open_fds: int | None = self._pid_open_fds(pid, counted=io is not None)
            except PermissionError:
                log.debug("%s/%d/fd: permission denied", root, pid)
                open_fds = None
        except (FileNotFoundError, ProcessLookupError) as exc:
            log.debug("pid %d exited while being read: %s", pid, exc)
            return None
        username = username_of(status.uid_effective) if username_of else None
        start_time_seconds = boot_time_seconds + stat.start_seconds_since_boot
        if (
            last is not None
            and last.stat is stat
            and last.status is status
            and last.io is io
            and last.static is static
            and last.sample.open_fds == open_fds
            and last.sample.username == username
            and last.sample.start_time_seconds == start_time_seconds
        ):
            return last.sample  # every input the same: the same record
        sample = ProcessSample(
            pid=pid,
            ppid=stat.ppid,
            # stat's comm is the same task name that /proc/<pid>/comm shows; reading it from
            # stat saves one open per process.
            name=stat.comm,
            cmdline=static.cmdline,
            exe=static.exe,
            uid=status.uid_effective,
            username=username,
            state=stat.state,
            start_time_seconds=start_time_seconds,
            start_token=stat.start_ticks,
            cpu_user_seconds_total=stat.cpu_user_seconds_total,
            cpu_system_seconds_total=stat.cpu_system_seconds_total,
            # process-exporter reports stat's rss x page size (not status VmRSS) and vsize.
            resident_bytes=stat.resident_bytes,
            virtual_bytes=stat.virtual_bytes,
            swap_bytes=status.swap_bytes,
            read_bytes_total=io.read_bytes_total if io else None,
            write_bytes_total=io.write_bytes_total if io else None,
            num_threads=stat.num_threads,
            open_fds=open_fds,
            max_fds=static.max_fds,
            voluntary_ctx_switches_total=status.voluntary_ctxt_switches_total,
            nonvoluntary_ctx_switches_total=status.nonvoluntary_ctxt_switches_total,
            minor_faults_total=stat.minor_faults_total,
            major_faults_total=stat.major_faults_total,
        )
        self._last[pid] = _LastRead(
            stat_data, stat, status_data, status, io_data, io, page_size, static, sample
        )
        return sample

    def _pid_io(self, pid: int, last: _LastRead | None) -> tuple[bytes | None, PidIO | None]:
        """(bytes, parsed) of /proc/<pid>/io; (None, None) when reading it is not allowed."""
        try:
            data = self._pid_bytes(pid, "io")
        except PermissionError:
            log.debug("%s/%d/io: permission denied", self.root, pid)
            return None, None
        if last is not None and last.io_data == data:
            return data, last.io
        return data, parse_pid_io(_text(data), source=f"{self.root}/{pid}/io")

    def _pid_static(self, pid: int, start_token: int, name: str) -> ProcessStatic:
        root = self.root
        cmdline = parse_cmdline(self._pid_bytes(pid, "cmdline"))
        limits = parse_pid_limits(self._pid_text(pid, "limits"), source=f"{root}/{pid}/limits")
        return ProcessStatic(start_token, name, cmdline, self._pid_exe(pid), limits.open_files_soft)

    def _pid_open_fds(self, pid: int, counted: bool = False) -> int:
        """Entries of /proc/<pid>/fd. Since Linux 6.2 (commit f1f1f2569901) the directory's
        st_size is that count, which a stat answers without listing the table (3 against up
        to 150 us here for a process with 250 fds); prometheus/procfs' FileDescriptorsLen
        does the same on a real procfs. stat answers even where listing is refused, so the
        size is used only when `counted` (io was readable: ptrace access, which listing
        needs too), to keep "no access, no count". Older kernels report 0 for every process:
        listed then, until some process shows a non-zero size (the kernel counts)."""
        path = f"{self.root}/{pid}/fd"
        if counted:
            if self._fd_size_counts is None:
                self._fd_size_counts = _on_procfs(self.root)
            if self._fd_size_counts:
                size = self._fd_dir_size(pid, path)
                if size > 0:
                    self._fd_size_seen = True
                    return size
                if self._fd_size_seen:
                    return 0
        return len(os.listdir(path))

    def _fd_dir_size(self, pid: int, path: str) -> int:
        """st_size of /proc/<pid>/fd, through a handle kept between scans (O_PATH: no access
        check, as stat by path has none) when the budget allows: fstat asks the same getattr
        (proc_fd_getattr counts the open fds then) without walking the path again. The
        handle is dropped with the pid's other kept files once its process is gone
        (_pid_bytes reads stat first, which finds that out), so it never counts the fds of
        another process with the same pid; for a task that has exited, fstat fails with
        ENOENT as stat by path does."""
        key = (pid, "fd")
        fd = self._kept.get(key)
        if fd is not None:
            return os.fstat(fd).st_size
        if len(self._kept) >= (self._keep_budget or 0):
            return os.stat(path).st_size
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._kept[key] = fd
        return os.fstat(fd).st_size

    def _pid_exe(self, pid: int) -> str | None:
        path = f"{self.root}/{pid}/exe"
        try:
            return os.readlink(path)
        except (FileNotFoundError, PermissionError) as exc:
            # ENOENT: kernel threads have no exe (or the process just exited; the next scan
            # will not see it). EACCES: another user's process without CAP_SYS_PTRACE.
            log.debug("%s: %s", path, exc.strerror)
            return None
        except OSError as exc:
            # EINVAL: not a symlink, as in fixture trees stored as plain files.
            if exc.errno != errno.EINVAL:
                raise
            log.debug("%s: not a symlink", path)
            return None

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
        with self._scanning:
            return self._scan(page_size, username_of, known)

    def _scan(
        self,
        page_size: int | None,
        username_of: Callable[[int], str | None] | None,
        known: dict[int, ProcessStatic] | None,
    ) -> dict[int, ProcessSample]:
        if self._keep_budget is None:
            if not _on_procfs(self.root):
                self._keep_budget = 0  # a fixture's files may be replaced between scans
            else:
                self._keep_budget = _keep_budget() if self._max_kept is None else self._max_kept
        boot_time = self.stat().boot_time_seconds
        size = page_size if page_size is not None else os.sysconf("SC_PAGE_SIZE")
        samples: dict[int, ProcessSample] = {}
        for pid in self.pids():
            sample = self.process(
                pid,
                boot_time_seconds=boot_time,
                page_size=size,
                username_of=username_of,
                known=known,
            )
            if sample is not None:
                samples[pid] = sample
        if known is not None:
            for gone in known.keys() - samples.keys():
                del known[gone]
        self._forget_pids(samples.keys())
        for gone in self._last.keys() - samples.keys():
            del self._last[gone]
        return samples

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


class SysFS:
    def __init__(self, root: str | Path = "/sys", *, keep_open: bool = False) -> None:
        """`keep_open`: see kept_open."""
        self.root = Path(root)
        self._files = _KeptFiles() if keep_open else None

    def kept_open(self) -> SysFS:
        """A SysFS over the same root whose net_class attribute files stay open between
        reads (_KeptFiles: pread at offset 0 shows a sysfs attribute afresh, as it does a
        /proc file), for the network collector, which reads operstate and carrier of every
        interface every cycle. Only on a mounted sysfs: a fixture tree's files may be
        replaced between reads, so there this SysFS itself. Not to be shared between
        threads; forget_net_class when an interface is gone, and close()."""
        if _mount_type(self.root) != "sysfs":
            return self
        return SysFS(self.root, keep_open=True)

    def forget_net_class(self, device: str) -> None:
        """Close the kept attribute files of an interface that is gone (a descriptor of a
        removed sysfs node only answers ENODEV; one of the same name that comes back is
        another node, opened afresh)."""
        if self._files is not None:
            self._files.forget(f"{self.root}/class/net/{device}/")

    def close(self) -> None:
        if self._files is not None:
            self._files.close()

    def read_text(self, relative: str) -> str:
        return _read_text(f"{self.root}/{relative}")

    def _read_files(self, directory: Path, names: tuple[str, ...]) -> dict[str, str]:
        """The named files of a directory that can be read. Absent files are expected (each
        attribute depends on driver and kernel) and root-only ones (cpuinfo_cur_freq is
        0400) are as good as absent to an unprivileged agent."""
        texts: dict[str, str] = {}
        for name in names:
            try:
                texts[name] = _read_text(f"{directory}/{name}")
            except (FileNotFoundError, PermissionError) as exc:
                log.debug("optional sysfs file %s unavailable: %s", directory / name, exc)
        return texts

    def net_class(self, device: str, attributes: tuple[str, ...] = NET_CLASS_FILES) -> NetClass:
        """Link attributes of one interface (those named; the others None); all None when
        /sys/class/net/<device> is not there (a container's /sys of another network
        namespace, a fixture without it)."""
        # A string path and os.path.isdir: pathlib's joins and is_dir were a third of the
        # cost of reading two attributes (this runs per interface per cycle).
        directory = f"{self.root}/class/net/{device}"
        files: dict[str, str] = {}
        kept = self._files
        # With kept files the directory check is left out: a missing directory makes every
        # attribute FileNotFoundError below, which gives the same all-None result.
        if kept is None and not os.path.isdir(directory):
            log.debug("%s does not exist: no link attributes for %s", directory, device)
            return parse_net_class(device, files)
        for name in attributes:
            try:
                path = f"{directory}/{name}"
                files[name] = _text(
                    _read_bytes(path)
                    if kept is None
                    else kept.read(path, _NET_ATTRIBUTE_UNAVAILABLE, one_page=True)
                )
            except (FileNotFoundError, PermissionError) as exc:
                log.debug("optional sysfs file %s/%s unavailable: %s", directory, name, exc)
            except OSError as exc:
                if exc.errno not in _NET_ATTRIBUTE_UNAVAILABLE:
                    raise
                log.debug("%s/%s has no value now: %s", directory, name, exc)
        return parse_net_class(device, files)

    def cpufreq(self) -> dict[int, CpuFreq]:
        """Per CPU with a cpufreq directory (none on VMs without a cpufreq driver)."""
        cpu_dir = self.root / "devices/system/cpu"
        result: dict[int, CpuFreq] = {}
        for entry in os.scandir(cpu_dir):
            match = _CPU_DIR.match(entry.name)
            cpufreq_dir = Path(entry.path) / "cpufreq"
            if match is None or not cpufreq_dir.is_dir():
                continue
            cpu = int(match.group(1))
            result[cpu] = parse_cpufreq(cpu, self._read_files(cpufreq_dir, CPUFREQ_FILES))
        return dict(sorted(result.items()))

    def thermal_zones(self) -> list[ThermalZone]:
        zones = []
        for zone, path in _numbered(self.root / "class/thermal", "thermal_zone"):
            zones.append(parse_thermal_zone(zone, self._read_files(path, THERMAL_ZONE_FILES)))
        return zones

    def cooling_devices(self) -> list[CoolingDevice]:
        devices = []
        for name, path in _numbered(self.root / "class/thermal", "cooling_device"):
            files = self._read_files(path, COOLING_DEVICE_FILES)
            devices.append(parse_cooling_device(name, files))
        return devices

    def _hwmon_attributes(self, directory: Path, into: dict[str, str]) -> None:
        for entry in os.scandir(directory):
            if split_attribute(entry.name) is None or not entry.is_file():
                continue
            try:
                with open(entry.path, encoding="utf-8", errors="replace") as handle:
                    into[entry.name] = handle.read()
            except OSError as exc:
                # Drivers answer EIO/ENODATA/EAGAIN for sensors that are not wired or not
                # ready, and some attributes are write-only; the sensor is then just absent,
                # as in node_exporter, which skips any attribute it cannot read.
                log.debug("hwmon attribute %s unreadable: %s", entry.path, exc)

    def hwmon(self) -> list[HwmonChip]:
        chips = []
        for _, path in _numbered(self.root / "class/hwmon", "hwmon"):
            if not path.is_dir():
                continue
            device = path / "device"
            device_path = os.path.realpath(device) if device.exists() else None
            name_text = self._read_files(path, ("name",)).get("name")
            chip = hwmon_chip(device_path, name_text, Path(os.path.realpath(path)).name)
            attributes: dict[str, str] = {}
            self._hwmon_attributes(path, attributes)
            if device_path is not None:
                self._hwmon_attributes(Path(device_path), attributes)
            chips.append(parse_hwmon_chip(chip, hwmon_chip_name(name_text), attributes))
        return chips

    def dmi(self) -> dict[str, str | None]:
        """DMI identity strings; an unreadable or empty field is None."""
        return parse_dmi(self._read_files(self.root / "class/dmi/id", DMI_FILES))

    def block_devices(self) -> list[BlockDevice]:
        """Disks with a backing device (`device` link): physical and virtio disks, not loop,
        zram, ram, device-mapper or md devices, which have none."""
        block = self.root / "block"
        if not block.is_dir():
            log.debug("%s does not exist: no block devices", block)
            return []
        devices = []
        for entry in sorted(os.scandir(block), key=lambda e: e.name):
            path = Path(entry.path)
            if not (path / "device").exists():
                continue
            partitions = {
                sub.name: self._read_files(Path(sub.path), ("size",)).get("size", "")
                for sub in os.scandir(path)
                if sub.is_dir() and (Path(sub.path) / "partition").exists()
            }
            devices.append(
                parse_block_device(entry.name, self._read_files(path, BLOCK_FILES), partitions)
            )
        return devices

    def pci_devices(self) -> list[PciDevice]:
        devices_dir = self.root / "bus/pci/devices"
        if not devices_dir.is_dir():
            log.debug("%s does not exist: no PCI bus", devices_dir)
            return []
        devices = []
        for entry in sorted(os.scandir(devices_dir), key=lambda e: e.name):
            device = parse_pci_device(entry.name, self._read_files(Path(entry.path), PCI_FILES))
            if device is not None:
                devices.append(device)
        return devices

    def edac_dimms(self) -> list[Dimm]:
        """Memory modules the EDAC driver knows; empty without an EDAC driver (most VMs and
        desktops), in which case the caller reports the modules as unknown."""
        dimms = []
        for _, controller in _numbered(self.root / "devices/system/edac/mc", "mc"):
            for _, dimm in _numbered(controller, "dimm"):
                dimms.append(parse_dimm(self._read_files(dimm, DIMM_FILES), str(dimm)))
        return dimms
