"""Process groups (process-exporter's model: rules name each process once, counters only grow)
and the top processes by CPU and by memory over the interval. Linux reads /proc/<pid>/*; other
systems go through psutil. The scan is the agent's most expensive collector (its cost grows
with the process count: docs/code-choices.md), which is why it is one collector that can be
turned off on its own."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Annotated

from msgspec import Meta

from fleetscope.agent.collectors.base import CollectorContext, collector_settings
from fleetscope.agent.linux.pidscan import ProcessStatic
from fleetscope.agent.processes.groups import ProcessGrouper
from fleetscope.agent.processes.psutil_source import scan_psutil
from fleetscope.agent.processes.sample import ProcessSample
from fleetscope.agent.processes.settings import ProcessGroupsSettings
from fleetscope.agent.processes.top import highest_cpu_rates, top_by_memory
from fleetscope.agent.processes.tracker import GroupTracker, TrackedGroup
from fleetscope.agent.processes.users import UsernameCache
from fleetscope.model.payload import ProcessesSection, ProcessGroup, TopProcess

Scan = Callable[[], Mapping[int, ProcessSample]]


class ProcessesSettings(ProcessGroupsSettings, frozen=True):
    """[agent.processes]: process-exporter's group rules, and how many top processes to send."""

    top: Annotated[int, Meta(ge=0, le=100, description="top processes by CPU and by memory")] = 10


MAX_CMDLINE = 1024


def _group(tracked: TrackedGroup) -> ProcessGroup:
    counters, now = tracked.counters, tracked.current
    return ProcessGroup(
        name=tracked.name,
        num_procs=now.num_procs if now else 0,
        num_threads=now.num_threads if now else 0,
        cpu_user_seconds_total=counters.cpu_user_seconds_total,
        cpu_system_seconds_total=counters.cpu_system_seconds_total,
        read_bytes_total=counters.read_bytes_total,
        write_bytes_total=counters.write_bytes_total,
        resident_bytes=now.resident_bytes if now else 0,
        virtual_bytes=now.virtual_bytes if now else 0,
        swap_bytes=now.swap_bytes if now else None,
        open_fds=now.open_fds if now else None,
        worst_fd_ratio=now.worst_fd_ratio if now else None,
        oldest_start_time_seconds=now.oldest_start_time_seconds if now else None,
    )


def _top(sample: ProcessSample, cpu_percent: float | None) -> TopProcess:
    return TopProcess(
        pid=sample.pid,
        name=sample.name,
        cmdline=" ".join(sample.cmdline)[:MAX_CMDLINE],
        username=sample.username,
        cpu_percent=cpu_percent,
        resident_bytes=sample.resident_bytes,
    )


class ProcessesCollector:
    def __init__(
        self,
        scan: Scan,
        settings: ProcessGroupsSettings | None = None,
        top_n: int = 10,
        clock: Callable[[], float] = time.time,
        release: Callable[[], None] | None = None,
    ) -> None:
        """`release` frees what the scan keeps between calls (ProcFS's open files)."""
        self.scan = scan
        self._release = release
        self.tracker = GroupTracker(ProcessGrouper(settings))
        self.top_n = top_n
        self.clock = clock
        self._previous: tuple[Mapping[int, ProcessSample], float] | None = None

    def collect(self) -> ProcessesSection:
        now = self.clock()
        samples = self.scan()
        groups = self.tracker.update(samples, now=now)
        top_cpu: list[TopProcess] = []
        if self._previous is not None:
            before, before_at = self._previous
            top_cpu = [
                _top(rate.sample, rate.cores * 100)
                for rate in highest_cpu_rates(before, before_at, samples, now, self.top_n)
            ]
        self._previous = (samples, now)
        return ProcessesSection(
            count=len(samples),
            groups=[_group(g) for _, g in sorted(groups.items())],
            top_cpu=top_cpu,
            top_memory=[_top(s, None) for s in top_by_memory(samples, self.top_n)],
        )

    def close(self) -> None:
        if self._release is not None:
            self._release()


def make_processes_collector(context: CollectorContext) -> ProcessesCollector:
    settings = collector_settings(context, "processes", ProcessesSettings)
    if context.linux:
        users = UsernameCache()
        procfs = context.procfs
        # cmdline, exe and fd limit per live process, read once (ProcessStatic).
        known: dict[int, ProcessStatic] = {}
        return ProcessesCollector(
            lambda: procfs.processes(username_of=users, known=known),
            settings,
            settings.top,
            release=procfs.close,
        )
    return ProcessesCollector(scan_psutil, settings, settings.top)
