"""Top-N processes by CPU rate between two scans, and by resident memory. Pure."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

from fleetscope.agent.processes.sample import ProcessSample

# start_time_seconds is btime (whole seconds, rounded down) plus ticks, so it can read up to
# a second early; a process that appears in the second scan and "started" this long before
# the first one is still taken as started between the two.
START_TIME_SLACK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ProcessCpuRate:
    """CPU used between two scans, in cores (1.0 = one CPU busy the whole interval).
    `since_start` is True for a process born between the scans: all its CPU time is counted,
    because all of it was spent inside the interval."""

    sample: ProcessSample
    user_cores: float
    system_cores: float
    since_start: bool

    @property
    def cores(self) -> float:
        return self.user_cores + self.system_cores


def cpu_rates(
    before: Mapping[int, ProcessSample],
    before_at: float,
    after: Mapping[int, ProcessSample],
    after_at: float,
) -> list[ProcessCpuRate]:
    """Rate of every process in `after` that has a sound baseline.

    A process is matched to its earlier sample by (pid, start_token), so a reused pid is a
    new process, never a negative or inflated delta against the old one. A process absent
    from `before` counts from zero only if it started after `before_at` (within
    START_TIME_SLACK_SECONDS); one that was already running but missed by the first scan has
    no baseline and is left out rather than given its lifetime CPU as a rate.
    """
    return [
        ProcessCpuRate(sample, user_cores, system_cores, since_start)
        for _, sample, user_cores, system_cores, since_start in _rates(
            before, before_at, after, after_at
        )
    ]


_Rate = tuple[float, ProcessSample, float, float, bool]


def _rates(
    before: Mapping[int, ProcessSample],
    before_at: float,
    after: Mapping[int, ProcessSample],
    after_at: float,
) -> list[_Rate]:
    """cpu_rates as plain tuples (cores, sample, user cores, system cores, since start)."""
    interval = after_at - before_at
    if interval <= 0:
        raise ValueError(f"after_at ({after_at}) must be later than before_at ({before_at})")
    rates: list[_Rate] = []
    for pid, now in after.items():
        old = before.get(pid)
        if old is now:  # the same record (ProcFS reuses an idle process's): no CPU used
            rates.append((0.0, now, 0.0, 0.0, False))
            continue
        if old is not None and old.start_token == now.start_token:
            user = max(0.0, now.cpu_user_seconds_total - old.cpu_user_seconds_total)
            system = max(0.0, now.cpu_system_seconds_total - old.cpu_system_seconds_total)
            since_start = False
        elif now.start_time_seconds > before_at - START_TIME_SLACK_SECONDS:
            user, system = now.cpu_user_seconds_total, now.cpu_system_seconds_total
            since_start = True
        else:
            continue
        user_cores, system_cores = user / interval, system / interval
        rates.append((user_cores + system_cores, now, user_cores, system_cores, since_start))
    return rates


def highest_cpu_rates(
    before: Mapping[int, ProcessSample],
    before_at: float,
    after: Mapping[int, ProcessSample],
    after_at: float,
    n: int,
) -> list[ProcessCpuRate]:
    """The n highest CPU rates, highest first, ties in `after`'s order: what
    sorted(cpu_rates(...), key=cores, reverse=True)[:n] gives, with records built for those n
    only (a scan has hundreds of processes and sends ten)."""
    top = heapq.nlargest(n, _rates(before, before_at, after, after_at), key=_cores)
    return [ProcessCpuRate(sample, user, system, since) for _, sample, user, system, since in top]


def _cores(rate: _Rate) -> float:
    return rate[0]


def top_by_cpu(
    before: Mapping[int, ProcessSample],
    before_at: float,
    after: Mapping[int, ProcessSample],
    after_at: float,
    n: int = 10,
) -> list[ProcessCpuRate]:
    """The n highest CPU rates between the scans (see cpu_rates), highest first; ties by pid."""
    rates = cpu_rates(before, before_at, after, after_at)
    rates.sort(key=lambda r: (-r.cores, r.sample.pid))
    return rates[:n]


def top_by_memory(samples: Mapping[int, ProcessSample], n: int = 10) -> list[ProcessSample]:
    """The n processes with the most resident memory, highest first; ties by pid."""
    return sorted(samples.values(), key=lambda s: (-s.resident_bytes, s.pid))[:n]
