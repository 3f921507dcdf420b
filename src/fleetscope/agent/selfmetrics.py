"""The agent's own CPU time and resident memory, carried in every snapshot."""

from __future__ import annotations

import functools
import os
import sys
import time

import psutil

from fleetscope.model.payload import AgentSelf

# /proc/self/statm's second field is resident pages (proc(5)); reading that one small file
# is cheaper than psutil's cpu_times() + memory_info() (docs/code-choices.md). The CPU
# figure is the process's user + system time, which time.process_time() reads directly
# (CLOCK_PROCESS_CPUTIME_ID); other systems keep psutil's RSS.
_STATM = "/proc/self/statm"


@functools.cache
def _me() -> psutil.Process:
    return psutil.Process()


@functools.cache
def _page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


class _Statm:
    """/proc/self/statm kept open and read again with pread at offset 0 (a fresh reading, as
    for the collectors' kept /proc files). The descriptor names the process that opened it:
    a forked child (the pid changed) opens its own, or it would report its parent's memory."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._pid = 0

    def read(self) -> bytes:
        pid = os.getpid()
        fd = self._fd
        if fd is not None and pid == self._pid:
            try:
                return os.pread(fd, 256, 0)
            except OSError:
                self.close()  # opened afresh below, so an error is a fresh open's
        elif fd is not None:
            # A child's copy of its parent's descriptor: not ours to keep reading.
            self.close()
        fd = os.open(_STATM, os.O_RDONLY | os.O_CLOEXEC)
        self._fd, self._pid = fd, pid
        return os.pread(fd, 256, 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_statm = _Statm()


def _resident_bytes() -> int:
    if sys.platform.startswith("linux"):
        return int(_statm.read().split()[1]) * _page_size()
    return int(_me().memory_info().rss)


def agent_self() -> AgentSelf:
    return AgentSelf(cpu_seconds_total=time.process_time(), resident_bytes=_resident_bytes())
