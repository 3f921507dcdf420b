"""CPU: seconds per mode per core and in total, utilisation over the interval, load, context
switches, interrupts and runnable/blocked processes. Linux reads /proc/stat and /proc/loadavg
through the pure parsers; other systems go through psutil with the same output."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import psutil

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.linux.parsers.stat import CpuTimes
from fleetscope.model.payload import CpuCore, CpuModeSeconds, CpuSection

# guest and guest_nice are already inside user and nice (kernel/sched/cputime.c), so they are
# left out of the total, as top and psutil do.
_BUSY_EXCLUDED = ("idle", "iowait")
_SUMMED = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _modes(times: CpuTimes) -> CpuModeSeconds:
    return CpuModeSeconds(
        user=times.user,
        nice=times.nice,
        system=times.system,
        idle=times.idle,
        iowait=times.iowait,
        irq=times.irq,
        softirq=times.softirq,
        steal=times.steal,
        guest=times.guest,
        guest_nice=times.guest_nice,
    )


def utilization_percent(previous: CpuModeSeconds | None, current: CpuModeSeconds) -> float | None:
    """Busy share of the time that passed between two readings. None without a previous
    reading, when no time passed, or when a counter went backwards (reset, CPU re-plugged)."""
    if previous is None:
        return None
    deltas: dict[str, float] = {}
    for mode in _SUMMED:
        before: float | None = getattr(previous, mode)
        now: float | None = getattr(current, mode)
        if before is None or now is None:
            continue
        if now < before:
            return None
        deltas[mode] = now - before
    total = sum(deltas.values())
    if total <= 0:
        return None
    idle = sum(deltas.get(mode, 0.0) for mode in _BUSY_EXCLUDED)
    return max(0.0, min(100.0, 100.0 * (total - idle) / total))


class RateTracker:
    """Previous per-CPU readings, so each cycle can report utilisation over its interval. A CPU
    that appears (hot-plug) starts without a rate; one that disappears is forgotten."""

    def __init__(self) -> None:
        self._total: CpuModeSeconds | None = None
        self._cores: dict[int, CpuModeSeconds] = {}

    def section(
        self,
        total: CpuModeSeconds,
        cores: Mapping[int, CpuModeSeconds],
        **extra: float | None,
    ) -> CpuSection:
        section = CpuSection(
            seconds_total=total,
            utilization_percent=utilization_percent(self._total, total),
            cores=[
                CpuCore(
                    cpu=cpu,
                    seconds_total=times,
                    utilization_percent=utilization_percent(self._cores.get(cpu), times),
                )
                for cpu, times in sorted(cores.items())
            ],
            **extra,
        )
        self._total = total
        self._cores = dict(cores)
        return section


class LinuxCpuCollector:
    def __init__(self, context: CollectorContext) -> None:
        self.procfs = context.procfs
        self.rates = RateTracker()

    def collect(self) -> CpuSection:
        stat = self.procfs.stat()
        load = self.procfs.loadavg()
        return self.rates.section(
            _modes(stat.total),
            {cpu: _modes(times) for cpu, times in stat.per_cpu.items()},
            load1=load.load1,
            load5=load.load5,
            load15=load.load15,
            context_switches_total=stat.context_switches_total,
            interrupts_total=stat.interrupts_total,
            procs_running=stat.procs_running,
            procs_blocked=stat.procs_blocked,
        )


def _psutil_modes(times: object) -> CpuModeSeconds:
    fields = {mode: getattr(times, mode, None) for mode in CpuModeSeconds.model_fields}
    return CpuModeSeconds.model_validate(fields)


class PsutilCpuCollector:
    """Windows, macOS and the BSDs. psutil is injectable so tests can feed it recorded values."""

    def __init__(
        self,
        cpu_times: Callable[..., object] = psutil.cpu_times,
        cpu_stats: Callable[[], object] = psutil.cpu_stats,
        getloadavg: Callable[[], tuple[float, float, float]] = psutil.getloadavg,
    ) -> None:
        self._cpu_times = cpu_times
        self._cpu_stats = cpu_stats
        self._getloadavg = getloadavg
        self.rates = RateTracker()

    def collect(self) -> CpuSection:
        total = _psutil_modes(self._cpu_times())
        per_cpu = self._cpu_times(percpu=True)
        assert isinstance(per_cpu, list)
        stats = self._cpu_stats()
        # On Windows psutil emulates load averages from a background thread; first calls are 0.
        load1, load5, load15 = self._getloadavg()
        return self.rates.section(
            total,
            {cpu: _psutil_modes(times) for cpu, times in enumerate(per_cpu)},
            load1=load1,
            load5=load5,
            load15=load15,
            context_switches_total=getattr(stats, "ctx_switches", None),
            interrupts_total=getattr(stats, "interrupts", None),
        )


def make_cpu_collector(context: CollectorContext) -> LinuxCpuCollector | PsutilCpuCollector:
    return LinuxCpuCollector(context) if context.linux else PsutilCpuCollector()
