"""Memory and swap. Linux reads /proc/meminfo through the pure parser; other systems use psutil
with the same output."""

from __future__ import annotations

import logging
from collections.abc import Callable

import psutil

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.collectors.cpu import PressureReader
from fleetscope.agent.collectors.netstat import optional_file
from fleetscope.agent.linux.parsers.meminfo import MemInfo
from fleetscope.agent.linux.parsers.vmstat import VmStat, VmStatSwap
from fleetscope.model.payload import MemorySection, Pressure
from fleetscope.model.payload_kernel import MemoryDetail

log = logging.getLogger(__name__)

# /proc/meminfo lines that MemorySection has fields of its own for.
MEMINFO_HEADLINE = frozenset(
    {
        "MemTotal",
        "MemFree",
        "MemAvailable",
        "Buffers",
        "Cached",
        "Shmem",
        "Slab",
        "SwapTotal",
        "SwapFree",
        "HugePages_Total",
        "HugePages_Free",
        "HugePages_Rsvd",
        "Hugepagesize",
    }
)
# Every other line the kernel prints (fs/proc/meminfo.c, arch/x86/mm/pat/set_memory.c for
# DirectMap*, older kernels' Quicklists and MmapCopy) -> its MemoryDetail field.
MEMINFO_FIELDS = {
    "Active": "active_bytes",
    "Inactive": "inactive_bytes",
    "Active(anon)": "active_anon_bytes",
    "Inactive(anon)": "inactive_anon_bytes",
    "Active(file)": "active_file_bytes",
    "Inactive(file)": "inactive_file_bytes",
    "Unevictable": "unevictable_bytes",
    "Mlocked": "mlocked_bytes",
    "SwapCached": "swap_cached_bytes",
    "Zswap": "zswap_bytes",
    "Zswapped": "zswapped_bytes",
    "Dirty": "dirty_bytes",
    "Writeback": "writeback_bytes",
    "AnonPages": "anon_pages_bytes",
    "Mapped": "mapped_bytes",
    "KReclaimable": "kreclaimable_bytes",
    "SReclaimable": "slab_reclaimable_bytes",
    "SUnreclaim": "slab_unreclaimable_bytes",
    "KernelStack": "kernel_stack_bytes",
    "ShadowCallStack": "shadow_call_stack_bytes",
    "PageTables": "page_tables_bytes",
    "SecPageTables": "sec_page_tables_bytes",
    "NFS_Unstable": "nfs_unstable_bytes",
    "Bounce": "bounce_bytes",
    "WritebackTmp": "writeback_tmp_bytes",
    "CommitLimit": "commit_limit_bytes",
    "Committed_AS": "committed_as_bytes",
    "VmallocTotal": "vmalloc_total_bytes",
    "VmallocUsed": "vmalloc_used_bytes",
    "VmallocChunk": "vmalloc_chunk_bytes",
    "Percpu": "percpu_bytes",
    "HardwareCorrupted": "hardware_corrupted_bytes",
    "AnonHugePages": "anon_huge_pages_bytes",
    "ShmemHugePages": "shmem_huge_pages_bytes",
    "ShmemPmdMapped": "shmem_pmd_mapped_bytes",
    "FileHugePages": "file_huge_pages_bytes",
    "FilePmdMapped": "file_pmd_mapped_bytes",
    "CmaTotal": "cma_total_bytes",
    "CmaFree": "cma_free_bytes",
    "Unaccepted": "unaccepted_bytes",
    "Balloon": "balloon_bytes",
    "HugePages_Surp": "hugepages_surplus",
    "Hugetlb": "hugetlb_bytes",
    "HighTotal": "high_total_bytes",
    "HighFree": "high_free_bytes",
    "LowTotal": "low_total_bytes",
    "LowFree": "low_free_bytes",
    "MmapCopy": "mmap_copy_bytes",
    "Quicklists": "quicklists_bytes",
    "DirectMap4k": "direct_map_4k_bytes",
    "DirectMap4M": "direct_map_4m_bytes",
    "DirectMap2M": "direct_map_2m_bytes",
    "DirectMap1G": "direct_map_1g_bytes",
}
_unknown_meminfo_logged: set[str] = set()


def memory_detail(info: MemInfo) -> MemoryDetail:
    """The meminfo lines MemorySection has no field for. A line this agent does not know (a
    newer kernel's) is left out, logged once."""
    detail: dict[str, int] = {}
    for name, value in info.by_name.items():
        field_name = MEMINFO_FIELDS.get(name)
        if field_name is not None:
            detail[field_name] = value
        elif name not in MEMINFO_HEADLINE and name not in _unknown_meminfo_logged:
            _unknown_meminfo_logged.add(name)
            log.info("/proc/meminfo line %r is not known to this agent; left out", name)
    return MemoryDetail(**detail)


def memory_section(
    info: MemInfo,
    vmstat: VmStat | VmStatSwap | None = None,
    page_size: int = 4096,
    pressure: Pressure | None = None,
) -> MemorySection:
    """`page_size` converts vmstat's pswpin/pswpout, which count pages (mm/page_io.c). The
    page-fault, paging and OOM counters come from a full VmStat (parse_vmstat_headline)."""
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
        page_faults_total=getattr(vmstat, "page_faults_total", None),
        major_page_faults_total=getattr(vmstat, "major_page_faults_total", None),
        paged_in_bytes_total=getattr(vmstat, "paged_in_bytes_total", None),
        paged_out_bytes_total=getattr(vmstat, "paged_out_bytes_total", None),
        oom_kills_total=getattr(vmstat, "oom_kills_total", None),
        detail=memory_detail(info),
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
            optional_file(self.procfs.vmstat_headline, "/proc/vmstat"),
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
