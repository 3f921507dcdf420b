"""Memory and swap. Linux reads /proc/meminfo through the pure parser; other systems use psutil
with the same output."""

from __future__ import annotations

from collections.abc import Callable

import psutil

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.collectors.cpu import PressureReader
from fleetscope.agent.linux.parsers.meminfo import MemInfo
from fleetscope.agent.linux.parsers.vmstat import VmStat, VmStatSwap
from fleetscope.model.payload import MemorySection, Pressure


def memory_section(
    info: MemInfo,
    vmstat: VmStat | VmStatSwap | None = None,
    page_size: int = 4096,
    pressure: Pressure | None = None,
) -> MemorySection:
    """`page_size` converts vmstat's pswpin/pswpout, which count pages (mm/page_io.c)."""
    if info.available_bytes is not None:
        used = info.total_bytes - info.available_bytes
    else:
        # Kernels before 3.14 have no MemAvailable; this is what free(1) did then.
        used = info.total_bytes - info.free_bytes - info.buffers_bytes - info.cached_bytes
    return MemorySection(
        total_bytes=info.total_bytes,
        used_bytes=max(used, 0),
        free_bytes=info.free_bytes,
        available_bytes=info.available_bytes,
        cached_bytes=info.cached_bytes,
        buffers_bytes=info.buffers_bytes,
        shared_bytes=info.shared_bytes,
        slab_bytes=info.slab_bytes,
        swap_total_bytes=info.swap_total_bytes,
        swap_used_bytes=info.swap_total_bytes - info.swap_free_bytes,
        swap_free_bytes=info.swap_free_bytes,
        swap_in_bytes_total=_pages(vmstat.swapped_in_pages_total if vmstat else None, page_size),
        swap_out_bytes_total=_pages(vmstat.swapped_out_pages_total if vmstat else None, page_size),
        hugepages_total=info.hugepages_total,
        hugepages_free=info.hugepages_free,
        hugepages_reserved=info.hugepages_reserved,
        hugepage_size_bytes=info.hugepage_size_bytes,
        pressure=pressure,
    )


def _pages(count: int | None, page_size: int) -> int | None:
    return None if count is None else count * page_size


class LinuxMemoryCollector:
    def __init__(self, context: CollectorContext) -> None:
        self.procfs = context.procfs.kept_open()
        self.pressure = PressureReader(self.procfs, "memory")

    def close(self) -> None:
        self.procfs.close()

    def collect(self) -> MemorySection:
        return memory_section(
            self.procfs.meminfo(),
            self.procfs.vmstat_swap(),
            self.procfs.page_size,
            self.pressure.read(),
        )


class PsutilMemoryCollector:
    def __init__(
        self,
        virtual_memory: Callable[[], object] = psutil.virtual_memory,
        swap_memory: Callable[[], object] = psutil.swap_memory,
    ) -> None:
        self._virtual_memory = virtual_memory
        self._swap_memory = swap_memory

    def collect(self) -> MemorySection:
        vm = self._virtual_memory()
        swap = self._swap_memory()

        def field(source: object, name: str) -> float | None:
            # psutil fields differ by OS (no `buffers` on Windows, no `slab` off Linux).
            value = getattr(source, name, None)
            return None if value is None else float(value)

        return MemorySection(
            total_bytes=getattr(vm, "total"),  # noqa: B009 (vm is an OS-specific named tuple)
            used_bytes=getattr(vm, "used"),  # noqa: B009
            free_bytes=getattr(vm, "free"),  # noqa: B009
            available_bytes=field(vm, "available"),
            cached_bytes=field(vm, "cached"),
            buffers_bytes=field(vm, "buffers"),
            shared_bytes=field(vm, "shared"),
            slab_bytes=field(vm, "slab"),
            swap_total_bytes=field(swap, "total"),
            swap_used_bytes=field(swap, "used"),
            swap_free_bytes=field(swap, "free"),
            swap_in_bytes_total=field(swap, "sin"),
            swap_out_bytes_total=field(swap, "sout"),
        )


def make_memory_collector(
    context: CollectorContext,
) -> LinuxMemoryCollector | PsutilMemoryCollector:
    return LinuxMemoryCollector(context) if context.linux else PsutilMemoryCollector()
