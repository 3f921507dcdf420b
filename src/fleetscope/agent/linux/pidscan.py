"""The per-process scan: /proc/<pid>/{stat,status,io,cmdline,limits,exe,fd} of every process,
into ProcessSample records. ProcFS.processes() runs it; this module holds what it keeps between
scans (open files, each process's last read, what a process keeps for its whole life)."""

from __future__ import annotations

import errno
import logging
import os
import resource
import threading
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from fleetscope.agent.linux.fileio import READ_BYTES, decode, on_procfs, pread_all
from fleetscope.agent.linux.kept_files import close_all
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
from fleetscope.agent.processes.sample import ProcessSample

log = logging.getLogger(__name__)

# The per-process files every scan reads, kept open between scans on a live procfs
# (PidScanner._pid_bytes); cmdline and limits are read once per process (ProcessStatic).
_KEPT_FILES = frozenset({"stat", "status", "io"})


def _keep_budget() -> int:
    """How many per-process files may stay open: half the soft RLIMIT_NOFILE, leaving the
    rest to everything else the agent opens (spool, sockets, files of other collectors).
    At systemd's default soft limit of 1024 that keeps the three files and the fd/ handle
    (_fd_dir_size) of 128 processes; those of processes beyond the budget are opened and
    closed each scan, as before."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft // 2


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


@dataclass(frozen=True, slots=True)
class _LastRead:
    """A process's files as the last scan read them, with what was parsed from them. Most
    processes are idle between scans (most stat, status and io files read the same 10 s
    apart: docs/architecture.md, "How agent/linux reads files"): their parsed records, and
    then the sample built from them, are reused when the bytes are the same. Parsers are
    pure, so that is the same result."""

    stat_data: bytes
    stat: PidStat
    status_data: bytes
    status: PidStatus
    io_data: bytes | None
    io: PidIO | None
    page_size: int
    static: ProcessStatic
    sample: ProcessSample


class PidScanner:
    """The processes under one procfs root. Paths are built as f-strings: a full scan opens
    about 6 files per process, and pathlib's joins (`root / str(pid) / name`) cost more than
    the open itself (docs/architecture.md, "How agent/linux reads files")."""

    def __init__(self, root: Path, max_kept_files: int | None = None) -> None:
        """`max_kept_files` bounds the per-process files kept open between scans on a live
        procfs (_pid_bytes); by default half the soft RLIMIT_NOFILE."""
        self.root = root
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
        # A scanner dropped without close() (a one-off scan) must not leave its files open.
        weakref.finalize(self, close_all, self._kept)

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
        saves an open (its path walk) and a close per file (docs/architecture.md, "How
        agent/linux reads files"). The descriptor holds the process it was opened for:
        once that one has exited, a read fails with ESRCH (proc_single_show finds no task),
        and the file is opened again by path, which names whatever process has the pid now
        (the same outcome as a fresh open: that process, or FileNotFoundError)."""
        key = (pid, name)
        fd = self._kept.get(key)
        if fd is not None:
            try:
                return pread_all(fd)
            except ProcessLookupError:
                self._forget_pid(pid)  # all its kept files name the exited process
        fd = os.open(f"{self.root}/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, READ_BYTES)
            if len(data) == READ_BYTES:
                chunks = [data]
                while chunk := os.read(fd, READ_BYTES):
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

    def close(self, timeout_seconds: float = 1.0) -> bool:
        """Close the files kept open between scans, and keep none from now on; False (and
        nothing closed) when a scan is still running after `timeout_seconds` (one stuck
        reading a process's cmdline): its files are closed when the process ends."""
        if not self._scanning.acquire(timeout=timeout_seconds):
            log.warning("a process scan is still running; its open files stay open")
            return False
        try:
            self._keep_budget = 0
            self._forget_pids(())
        finally:
            self._scanning.release()
        return True

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
                stat = parse_pid_stat(decode(stat_data), page_size, source=f"{root}/{pid}/stat")
            static = None if known is None else known.get(pid)
            if static is None or static.start_token != stat.start_ticks or static.name != stat.comm:
                static = self._pid_static(pid, stat.start_ticks, stat.comm)
                if known is not None:
                    known[pid] = static
            status_data = self._pid_bytes(pid, "status")
            if last is not None and last.status_data == status_data:
                status = last.status
            else:
                status = parse_pid_status(decode(status_data), source=f"{root}/{pid}/status")
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
        return data, parse_pid_io(decode(data), source=f"{self.root}/{pid}/io")

    def _pid_static(self, pid: int, start_token: int, name: str) -> ProcessStatic:
        root = self.root
        cmdline = parse_cmdline(self._pid_bytes(pid, "cmdline"))
        limits = parse_pid_limits(self._pid_text(pid, "limits"), source=f"{root}/{pid}/limits")
        return ProcessStatic(start_token, name, cmdline, self._pid_exe(pid), limits.open_files_soft)

    def _pid_open_fds(self, pid: int, counted: bool = False) -> int:
        """Entries of /proc/<pid>/fd. Since Linux 6.2 (commit f1f1f2569901) the directory's
        st_size is that count, which a stat answers without listing the table (whose cost
        grows with the fds: docs/architecture.md, "How agent/linux reads files");
        prometheus/procfs' FileDescriptorsLen does the same on a real procfs. stat answers
        even where listing is refused, so the size is used only when `counted` (io was
        readable: ptrace access, which listing needs too), to keep "no access, no count".
        Older kernels report 0 for every process: listed then, until some process shows a
        non-zero size (the kernel counts)."""
        path = f"{self.root}/{pid}/fd"
        if counted:
            if self._fd_size_counts is None:
                self._fd_size_counts = on_procfs(self.root)
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
        boot_time_seconds: Callable[[], float],
        page_size: int | None,
        username_of: Callable[[int], str | None] | None,
        known: dict[int, ProcessStatic] | None,
    ) -> dict[int, ProcessSample]:
        """Every process that is still there when its files are read, by pid (see
        ProcFS.processes). `boot_time_seconds` reads /proc/stat's btime, once per scan."""
        with self._scanning:
            return self._scan(boot_time_seconds, page_size, username_of, known)

    def _scan(
        self,
        boot_time_seconds: Callable[[], float],
        page_size: int | None,
        username_of: Callable[[int], str | None] | None,
        known: dict[int, ProcessStatic] | None,
    ) -> dict[int, ProcessSample]:
        if self._keep_budget is None:
            if not on_procfs(self.root):
                self._keep_budget = 0  # a fixture's files may be replaced between scans
            else:
                self._keep_budget = _keep_budget() if self._max_kept is None else self._max_kept
        boot_time = boot_time_seconds()
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
