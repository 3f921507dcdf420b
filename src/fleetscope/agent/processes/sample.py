"""The typed record of one process at one moment, whatever platform it was read on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One process as read from /proc (ProcFS.process) or psutil (samples_from_psutil).

    `(pid, start_token)` names one process: a pid reused by a new process has another start
    token. On Linux it is stat's starttime in clock ticks after boot; through psutil it is the
    create time in microseconds. `start_time_seconds` is unix time (btime + ticks / USER_HZ on
    Linux), good to about a second because btime is whole seconds.

    `exe` is the /proc/<pid>/exe target; rule matching on "exe" uses argv[0] instead, as
    process-exporter does. None means "could not be read" (another user's process read
    without privileges, a kernel thread, a platform that lacks the figure), never zero.
    """

    pid: int
    ppid: int
    name: str
    cmdline: tuple[str, ...]
    exe: str | None
    uid: int | None
    username: str | None
    state: str | None
    start_time_seconds: float
    start_token: int
    cpu_user_seconds_total: float
    cpu_system_seconds_total: float
    resident_bytes: int
    virtual_bytes: int
    swap_bytes: int | None
    read_bytes_total: int | None
    write_bytes_total: int | None
    num_threads: int
    open_fds: int | None
    max_fds: int | None
    voluntary_ctx_switches_total: int | None
    nonvoluntary_ctx_switches_total: int | None
    minor_faults_total: int | None
    major_faults_total: int | None

    @property
    def identity(self) -> tuple[int, int]:
        return (self.pid, self.start_token)

    @property
    def cpu_seconds_total(self) -> float:
        return self.cpu_user_seconds_total + self.cpu_system_seconds_total
