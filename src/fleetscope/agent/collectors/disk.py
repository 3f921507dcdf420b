"""Disks: per block device I/O counters from /proc/diskstats, and per interval IOPS, bytes per
second, await and utilisation. Other systems use psutil.disk_io_counters(perdisk=True).

Device filter: devices whose name matches the `disk_device_exclude` setting are left out. The
default, `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$`, is node_exporter's
--collector.diskstats.device-exclude since 1.8.0 (1.5.0 had the same without `z?`; see
agent/settings.py): it drops partitions (sda1, vda2, xvda1, nvme0n1p1, whose I/O the whole disk
already counts) and ram, zram, loop and floppy devices; it keeps whole disks, dm-*, md*,
mmcblk0p1 and sr0, as node_exporter does.

The derived values follow iostat (sysstat), over the interval since the previous snapshot:
* read_iops, write_iops = delta completed / seconds;
* read_await_seconds = delta read time / delta reads completed (likewise write), and
  await_seconds over reads and writes together: the mean time from queueing to completion.
  None when nothing completed (no I/O means no latency, not a latency of 0);
* utilization_percent = 100 * delta io_time / seconds, the share of time with at least one
  request in flight; capped at 100, because the agent's clock is read a moment apart from the
  kernel's accounting. For devices that serve requests in parallel (SSDs, NVMe, RAID) 100 %
  means busy, not saturated.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Annotated

import psutil
from msgspec import Meta

from fleetscope.agent.collectors.base import (
    CollectorContext,
    Regex,
    collector_settings,
    device_filter,
)
from fleetscope.agent.collectors.cpu import PressureReader
from fleetscope.agent.linux.parsers.diskstats import SECONDS_PER_MS, DiskStats
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.rates import CounterRates, Interval
from fleetscope.config.settings import SettingsStruct
from fleetscope.model.codec import convert
from fleetscope.model.payload import DiskDevice, DiskSection

# Counters carried as they are; DiskStats uses the same names. io_in_progress is a gauge.
COUNTER_FIELDS = (
    "reads_completed_total",
    "reads_merged_total",
    "read_bytes_total",
    "read_time_seconds_total",
    "writes_completed_total",
    "writes_merged_total",
    "written_bytes_total",
    "write_time_seconds_total",
    "io_time_seconds_total",
    "io_time_weighted_seconds_total",
    "discards_completed_total",
    "discards_merged_total",
    "discarded_bytes_total",
    "discard_time_seconds_total",
    "flush_requests_total",
    "flush_time_seconds_total",
)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _plus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def derived(interval: Interval | None) -> dict[str, float | None]:
    """The per-interval fields of DiskDevice from one device's counter deltas."""
    if interval is None:
        return {}
    reads = interval.delta("reads_completed_total")
    writes = interval.delta("writes_completed_total")
    read_time = interval.delta("read_time_seconds_total")
    write_time = interval.delta("write_time_seconds_total")
    busy = interval.per_second("io_time_seconds_total")
    return {
        "read_iops": interval.per_second("reads_completed_total"),
        "write_iops": interval.per_second("writes_completed_total"),
        "read_bytes_per_second": interval.per_second("read_bytes_total"),
        "written_bytes_per_second": interval.per_second("written_bytes_total"),
        "read_await_seconds": _ratio(read_time, reads),
        "write_await_seconds": _ratio(write_time, writes),
        "await_seconds": _ratio(_plus(read_time, write_time), _plus(reads, writes)),
        "utilization_percent": None if busy is None else min(100.0, 100.0 * busy),
    }


# Partitions (their I/O is already in the whole disk's counters) and RAM, loop and floppy
# devices. node_exporter 1.8.0's default --collector.diskstats.device-exclude, which added
# `z?` for zram (CHANGELOG 1.8.0: "diskstats: Ignore zram devices on linux systems #2898"); 1.5.0
# (`prometheus-node-exporter --help`, Debian 1.5.0-1) has `^(ram|loop|...` and is otherwise
# the same. mmcblk0p1, dm-*, md*, sr0 and whole disks stay in.
DEFAULT_DISK_DEVICE_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"


class DiskSettings(SettingsStruct, frozen=True):
    """[agent.disk]"""

    device_exclude: Annotated[
        Regex,
        Meta(
            description='block devices to leave out (regular expression; "" keeps all); the '
            "default drops partitions and ram, zram, loop and floppy devices like node_exporter"
        ),
    ] = DEFAULT_DISK_DEVICE_EXCLUDE


class DeviceRates:
    """Shared by the Linux and psutil collectors: counters in, DiskDevice records out."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._rates: CounterRates[str] = CounterRates(clock)

    def devices(
        self,
        counters: Mapping[str, Mapping[str, float | None]],
        gauges: Mapping[str, Mapping[str, float | None]],
    ) -> list[DiskDevice]:
        intervals = self._rates.update(counters)
        return [
            convert(
                {
                    "device": device,
                    **values,
                    **gauges.get(device, {}),
                    **derived(intervals[device]),
                },
                DiskDevice,
            )
            for device, values in counters.items()
        ]


def diskstats_counters(disk: DiskStats) -> dict[str, float | None]:
    return {field: getattr(disk, field) for field in COUNTER_FIELDS}


_EXCLUDE_CACHE_LIMIT = 4096


class LinuxDiskCollector:
    def __init__(
        self,
        procfs: ProcFS,
        device_exclude: re.Pattern[str] | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.procfs = procfs
        self.device_exclude = device_exclude
        self.rates = DeviceRates(clock)
        self.pressure = PressureReader(procfs, "io")
        # Device name -> excluded: the pattern's answer for a name never changes, and the
        # same few names come back every cycle. Bounded, for hosts that churn device names.
        self._excluded: dict[str, bool] = {}

    def _skip(self, name: str) -> bool:
        excluded = self._excluded.get(name)
        if excluded is None:
            if len(self._excluded) >= _EXCLUDE_CACHE_LIMIT:
                self._excluded.clear()
            pattern = self.device_exclude
            excluded = self._excluded[name] = pattern is not None and bool(pattern.search(name))
        return excluded

    def close(self) -> None:
        self.procfs.close()

    def collect(self) -> DiskSection:
        disks = self.procfs.diskstats(self._skip)
        return DiskSection(
            devices=self.rates.devices(
                {name: diskstats_counters(disk) for name, disk in disks.items()},
                {name: {"io_in_progress": disk.io_in_progress} for name, disk in disks.items()},
            ),
            pressure=self.pressure.read(),
        )


def _seconds_of_ms(value: float | None) -> float | None:
    return None if value is None else value * SECONDS_PER_MS


class PsutilDiskCollector:
    """Windows, macOS and the BSDs; disk_io_counters is injectable for tests. psutil gives
    counts, bytes and read/write time everywhere, merges on Linux, busy_time (io_time) on
    Linux and FreeBSD; whatever it lacks is None, and so are the values derived from it."""

    def __init__(
        self,
        device_exclude: re.Pattern[str] | None,
        *,
        disk_io_counters: Callable[..., Mapping[str, object] | None] = psutil.disk_io_counters,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device_exclude = device_exclude
        self._disk_io_counters = disk_io_counters
        self.rates = DeviceRates(clock)

    def collect(self) -> DiskSection:
        # None when the system has no disks psutil can see (e.g. some containers).
        disks = self._disk_io_counters(perdisk=True) or {}
        counters = {
            name: {
                "reads_completed_total": getattr(io, "read_count"),  # noqa: B009 (psutil tuple)
                "reads_merged_total": getattr(io, "read_merged_count", None),
                "read_bytes_total": getattr(io, "read_bytes"),  # noqa: B009
                "read_time_seconds_total": _seconds_of_ms(getattr(io, "read_time", None)),
                "writes_completed_total": getattr(io, "write_count"),  # noqa: B009
                "writes_merged_total": getattr(io, "write_merged_count", None),
                "written_bytes_total": getattr(io, "write_bytes"),  # noqa: B009
                "write_time_seconds_total": _seconds_of_ms(getattr(io, "write_time", None)),
                "io_time_seconds_total": _seconds_of_ms(getattr(io, "busy_time", None)),
            }
            for name, io in disks.items()
            if self.device_exclude is None or not self.device_exclude.search(name)
        }
        return DiskSection(devices=self.rates.devices(counters, {}))


def make_disk_collector(context: CollectorContext) -> LinuxDiskCollector | PsutilDiskCollector:
    exclude = device_filter(collector_settings(context, "disk", DiskSettings).device_exclude)
    if context.linux:
        return LinuxDiskCollector(context.procfs.kept_open(), exclude)
    return PsutilDiskCollector(exclude)
