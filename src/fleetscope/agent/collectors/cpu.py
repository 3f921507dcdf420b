"""CPU: seconds per mode per core and in total, utilisation over the interval, load, context
switches, interrupts and runnable/blocked processes. Linux reads /proc/stat and /proc/loadavg
through the pure parsers; other systems go through psutil with the same output."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import psutil

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.linux.parsers.cpufreq import CpuFreq
from fleetscope.agent.linux.parsers.pressure import Pressure as ParsedPressure
from fleetscope.agent.linux.parsers.pressure import PressureLine
from fleetscope.agent.linux.parsers.stat import CpuTimes
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.model.codec import convert
from fleetscope.model.payload import (
    CpuCore,
    CpuModeSeconds,
    CpuSection,
    Pressure,
    PressureStall,
    Temperature,
)
from fleetscope.model.payload_kernel import Softirqs

log = logging.getLogger(__name__)

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
        frequencies: Mapping[int, tuple[float | None, float | None, float | None]] | None = None,
        **extra: object,
    ) -> CpuSection:
        frequencies = frequencies or {}
        section = convert(
            {
                "seconds_total": total,
                "utilization_percent": utilization_percent(self._total, total),
                "cores": [
                    CpuCore(
                        cpu=cpu,
                        seconds_total=times,
                        utilization_percent=utilization_percent(self._cores.get(cpu), times),
                        **dict(
                            zip(
                                ("frequency_hz", "frequency_min_hz", "frequency_max_hz"),
                                frequencies.get(cpu, (None, None, None)),
                                strict=True,
                            )
                        ),
                    )
                    for cpu, times in sorted(cores.items())
                ],
                **extra,
            },
            CpuSection,
        )
        self._total = total
        self._cores = dict(cores)
        return section


def _stall(line: PressureLine) -> PressureStall:
    return PressureStall(
        avg10_percent=line.avg10_percent,
        avg60_percent=line.avg60_percent,
        avg300_percent=line.avg300_percent,
        stalled_seconds_total=line.stalled_seconds_total,
    )


class PressureReader:
    """PSI for one resource. Absent before Linux 4.20, without CONFIG_PSI, or booted with psi=0
    (EOPNOTSUPP): then None, found out once rather than failing every cycle."""

    def __init__(self, procfs: ProcFS, resource: str) -> None:
        self.procfs = procfs
        self.resource = resource
        self.available = True

    def read(self) -> Pressure | None:
        if not self.available:
            return None
        try:
            parsed: ParsedPressure = self.procfs.pressure(self.resource)
        except OSError as exc:
            log.debug("no pressure stall information for %s: %s", self.resource, exc)
            self.available = False
            return None
        return Pressure(
            some=_stall(parsed.some), full=None if parsed.full is None else _stall(parsed.full)
        )


class FrequencyReader:
    """Per-core frequency. The bounds are fixed, so they are read once; each cycle reads only
    scaling_cur_freq, one small file per core. Without a cpufreq driver (most VMs) nothing."""

    def __init__(self, sysfs: SysFS) -> None:
        self.sysfs = sysfs
        try:
            self.static: dict[int, CpuFreq] = sysfs.cpufreq()
        except OSError as exc:
            log.debug("no cpufreq: %s", exc)
            self.static = {}

    def read(self) -> dict[int, tuple[float | None, float | None, float | None]]:
        result: dict[int, tuple[float | None, float | None, float | None]] = {}
        for cpu, static in self.static.items():
            current: float | None
            try:
                # kHz in sysfs (Documentation/admin-guide/pm/cpufreq.rst).
                current = (
                    int(
                        self.sysfs.read_text(
                            f"devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq"
                        )
                    )
                    * 1000
                )
            except (OSError, ValueError) as exc:
                log.debug("cpu%d scaling_cur_freq unreadable: %s", cpu, exc)
                current = static.hardware_current_hz
            low = (
                static.scaling_min_hz
                if static.scaling_min_hz is not None
                else static.hardware_min_hz
            )
            high = (
                static.scaling_max_hz
                if static.scaling_max_hz is not None
                else static.hardware_max_hz
            )
            result[cpu] = (current, low, high)
        return result


def read_temperatures(sysfs: SysFS) -> list[Temperature]:
    """hwmon temperature inputs and thermal zones. Both can describe one physical sensor;
    both are kept, named by source, because neither is a superset of the other."""
    return _sensor_readings(sysfs)[0]


def _sensor_readings(sysfs: SysFS) -> tuple[list[Temperature], bool]:
    """read_temperatures' list, and whether any hwmon chip or thermal zone was there (one
    without a temperature input, a fan controller, is still a driver that was read)."""
    temperatures = []
    chips = sysfs.hwmon()
    for chip in chips:
        for sensor in chip.sensors.values():
            if sensor.kind != "temp" or sensor.input is None:
                continue
            temperatures.append(
                Temperature(
                    source="hwmon",
                    # chip/sensor is unique (node_exporter's chip and sensor labels); the
                    # driver's label ("Core 0") is for people and may repeat across chips.
                    sensor=f"{chip.chip}/{sensor.sensor}",
                    label=(sensor.label or chip.chip_name or "").strip(),
                    celsius=sensor.input,
                    critical_celsius=sensor.crit,
                )
            )
    zones = sysfs.thermal_zones()
    for zone in zones:
        temperatures.append(
            Temperature(
                source="thermal_zone",
                sensor=f"thermal_zone{zone.zone}",
                label=zone.type,
                celsius=zone.temp_celsius,
            )
        )
    return temperatures, bool(chips or zones)


class LinuxCpuCollector:
    def __init__(self, context: CollectorContext) -> None:
        self.procfs = context.procfs.kept_open()
        self.sysfs = context.sysfs
        self.rates = RateTracker()
        self.pressure = PressureReader(self.procfs, "cpu")
        self.frequencies = FrequencyReader(context.sysfs)
        self._last_sensor_error: str | None = None
        # Whether the last cycle found a sensor (or could not tell); see may_block.
        self._sensors = True

    def may_block(self) -> bool:
        """Sensor drivers may wait on a slow bus or ACPI firmware; everything else here reads
        kernel memory. A host where the last cycle found no hwmon chip or thermal zone (most
        VMs) has nothing to wait for, and its cycle runs without a thread hand-off; listing
        the empty class directories each cycle still notices a sensor driver loaded later,
        whose first read then happens in the caller's thread once."""
        return self._sensors

    def _temperatures(self) -> list[Temperature]:
        # Sensors are an extra: an unreadable or malformed one must not cost the CPU figures.
        try:
            temperatures, self._sensors = _sensor_readings(self.sysfs)
        except (OSError, ValueError) as exc:
            if str(exc) != self._last_sensor_error:
                log.warning("temperature sensors unreadable: %s", exc)
                self._last_sensor_error = str(exc)
            self._sensors = True
            return []
        return temperatures

    def close(self) -> None:
        self.procfs.close()

    def collect(self) -> CpuSection:
        stat = self.procfs.stat()
        load = self.procfs.loadavg()
        return self.rates.section(
            _modes(stat.total),
            {cpu: _modes(times) for cpu, times in stat.per_cpu.items()},
            self.frequencies.read(),
            temperatures=self._temperatures(),
            pressure=self.pressure.read(),
            load1=load.load1,
            load5=load.load5,
            load15=load.load15,
            context_switches_total=stat.context_switches_total,
            interrupts_total=stat.interrupts_total,
            procs_running=stat.procs_running,
            procs_blocked=stat.procs_blocked,
            forks_total=stat.forks_total,
            boot_time_seconds=stat.boot_time_seconds,
            softirqs_total=Softirqs(**stat.softirqs_by_vector) if stat.softirqs_by_vector else None,
        )


def _psutil_modes(times: object) -> CpuModeSeconds:
    fields = {mode: getattr(times, mode, None) for mode in CpuModeSeconds.__struct_fields__}
    return convert(fields, CpuModeSeconds)


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
            None,
            load1=load1,
            load5=load5,
            load15=load15,
            context_switches_total=getattr(stats, "ctx_switches", None),
            interrupts_total=getattr(stats, "interrupts", None),
        )


def make_cpu_collector(context: CollectorContext) -> LinuxCpuCollector | PsutilCpuCollector:
    return LinuxCpuCollector(context) if context.linux else PsutilCpuCollector()
