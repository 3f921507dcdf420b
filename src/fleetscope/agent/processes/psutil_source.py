"""ProcessSample records through psutil, for Windows and macOS and as a fallback on Linux.

What psutil cannot give without extra privileges or cost is None: swap (memory_full_info
reads smaps, slow and root-only), page faults (no portable API in psutil 7), the fd limit
(rlimit exists on Linux and FreeBSD only), open fds on Windows (handles are not fds).
Differences from the /proc reader worth knowing: on Linux psutil's name() widens a comm
truncated at 15 characters from argv[0], so comm rules may not match the same processes;
and on macOS without root, cpu_times/memory_info of other users' processes are denied, so
those processes are skipped (ProcessSample requires them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import psutil

from fleetscope.agent.processes.sample import ProcessSample

log = logging.getLogger(__name__)

# psutil.Process.status() strings -> the one-letter Linux codes ProcessSample keeps.
_STATUS_CODES = {
    psutil.STATUS_RUNNING: "R",
    psutil.STATUS_SLEEPING: "S",
    psutil.STATUS_DISK_SLEEP: "D",
    psutil.STATUS_STOPPED: "T",
    psutil.STATUS_TRACING_STOP: "t",
    psutil.STATUS_ZOMBIE: "Z",
    psutil.STATUS_DEAD: "X",
    psutil.STATUS_IDLE: "I",
    psutil.STATUS_WAKING: "W",
    psutil.STATUS_PARKED: "P",
}

_WANTED = (
    "pid",
    "ppid",
    "name",
    "cmdline",
    "exe",
    "uids",
    "username",
    "status",
    "create_time",
    "cpu_times",
    "memory_info",
    "io_counters",
    "num_threads",
    "num_fds",
    "num_ctx_switches",
)
# process_iter rejects attribute names this platform's Process lacks (num_fds on Windows,
# io_counters on macOS), so ask only for those it has.
PSUTIL_ATTRS: tuple[str, ...] = tuple(a for a in _WANTED if hasattr(psutil.Process, a))

MICROSECONDS = 1_000_000


class ProcessWithInfo(Protocol):
    """What process_iter(attrs=...) yields: a Process whose `info` dict holds the attrs, with
    None (ad_value) for what was denied."""

    info: dict[str, Any]


def _nofile_limit(process: object) -> int | None:
    rlimit = getattr(process, "rlimit", None)
    nofile = getattr(psutil, "RLIMIT_NOFILE", None)
    if rlimit is None or nofile is None:
        return None
    try:
        soft = rlimit(nofile)[0]
    except (psutil.Error, OSError) as exc:
        log.debug("rlimit(RLIMIT_NOFILE) of pid %s: %s", getattr(process, "pid", "?"), exc)
        return None
    # RLIM_INFINITY (-1 on Linux) is "unlimited", which ProcessSample writes as None.
    return None if soft < 0 or soft == getattr(psutil, "RLIM_INFINITY", -1) else int(soft)


def sample_from_psutil(info: Mapping[str, Any], max_fds: int | None = None) -> ProcessSample | None:
    """Build one sample from a process_iter info dict; None when psutil was denied a figure
    the sample cannot do without (create time, cpu times, memory, threads)."""
    pid = info["pid"]
    create_time, cpu, mem, threads = (
        info.get("create_time"),
        info.get("cpu_times"),
        info.get("memory_info"),
        info.get("num_threads"),
    )
    if create_time is None or cpu is None or mem is None or threads is None:
        log.debug("pid %s: psutil denied create_time, cpu_times, memory_info or threads", pid)
        return None
    uids = info.get("uids")
    io = info.get("io_counters")
    ctx = info.get("num_ctx_switches")
    status = info.get("status")
    return ProcessSample(
        pid=pid,
        ppid=info.get("ppid") or 0,
        name=info.get("name") or "",
        cmdline=tuple(info.get("cmdline") or ()),
        exe=info.get("exe") or None,
        uid=uids.effective if uids is not None else None,
        username=info.get("username"),
        state=_STATUS_CODES.get(status) if status is not None else None,
        start_time_seconds=float(create_time),
        start_token=round(create_time * MICROSECONDS),
        cpu_user_seconds_total=float(cpu.user),
        cpu_system_seconds_total=float(cpu.system),
        resident_bytes=int(mem.rss),
        virtual_bytes=int(mem.vms),
        swap_bytes=None,
        read_bytes_total=int(io.read_bytes) if io is not None else None,
        write_bytes_total=int(io.write_bytes) if io is not None else None,
        num_threads=int(threads),
        open_fds=info.get("num_fds"),
        max_fds=max_fds,
        voluntary_ctx_switches_total=ctx.voluntary if ctx is not None else None,
        nonvoluntary_ctx_switches_total=ctx.involuntary if ctx is not None else None,
        minor_faults_total=None,
        major_faults_total=None,
    )


def samples_from_psutil(processes: Iterable[ProcessWithInfo]) -> dict[int, ProcessSample]:
    """Samples by pid from process_iter-style objects; processes psutil could not read
    enough of are skipped (logged at debug)."""
    samples: dict[int, ProcessSample] = {}
    for process in processes:
        # process_iter itself drops a process that exits while `info` is filled; one that
        # exits before rlimit() only loses its limit (_nofile_limit catches psutil.Error).
        sample = sample_from_psutil(process.info, _nofile_limit(process))
        if sample is not None:
            samples[sample.pid] = sample
    return samples


def scan_psutil(
    process_iter: Callable[..., Iterable[ProcessWithInfo]] = psutil.process_iter,
) -> dict[int, ProcessSample]:
    """Every readable process via psutil.process_iter (injectable for tests)."""
    return samples_from_psutil(process_iter(attrs=list(PSUTIL_ATTRS), ad_value=None))
