"""Parser for /proc/meminfo."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

# The kernel writes "kB" but means KiB (fs/proc/meminfo.c shows pages << (PAGE_SHIFT - 10)).
BYTES_PER_KB = 1024

_SOURCE = "/proc/meminfo"


@dataclass(frozen=True, slots=True)
class MemInfo:
    """Memory figures in bytes (HugePages_* are page counts). A line the kernel does not have is
    None: MemAvailable appeared in 3.14, Shmem in 2.6.32, the HugePages lines need hugetlbfs."""

    total_bytes: int
    free_bytes: int
    available_bytes: int | None
    buffers_bytes: int
    cached_bytes: int
    shared_bytes: int | None
    slab_bytes: int | None
    slab_reclaimable_bytes: int | None
    swap_total_bytes: int
    swap_free_bytes: int
    swap_cached_bytes: int | None
    hugepages_total: int | None
    hugepages_free: int | None
    hugepages_reserved: int | None
    hugepages_surplus: int | None
    hugepage_size_bytes: int | None
    # Every line as the kernel names it, converted to bytes where it had a kB unit; this is
    # what node_exporter exports as node_memory_<name>_bytes.
    by_name: dict[str, int]


def parse_meminfo(text: str) -> MemInfo:
    values: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        # The common shapes, "Name:  value kB" and "Name:  value", take one split; anything
        # else goes through the checks below, which cost more (docs/code-choices.md).
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB" and parts[0][-1] == ":" and parts[1].isdigit():
            values[parts[0][:-1]] = int(parts[1]) * BYTES_PER_KB
            continue
        if len(parts) == 2 and parts[0][-1] == ":" and parts[1].isdigit():
            values[parts[0][:-1]] = int(parts[1])
            continue
        if not parts:
            continue
        _parse_line(line_no, line, values)
    for required in ("MemTotal", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree"):
        if required not in values:
            raise ParseError(_SOURCE, 0, text[:80], f"no {required} line")
    return MemInfo(
        total_bytes=values["MemTotal"],
        free_bytes=values["MemFree"],
        available_bytes=values.get("MemAvailable"),
        buffers_bytes=values["Buffers"],
        cached_bytes=values["Cached"],
        shared_bytes=values.get("Shmem"),
        slab_bytes=values.get("Slab"),
        slab_reclaimable_bytes=values.get("SReclaimable"),
        swap_total_bytes=values["SwapTotal"],
        swap_free_bytes=values["SwapFree"],
        swap_cached_bytes=values.get("SwapCached"),
        hugepages_total=values.get("HugePages_Total"),
        hugepages_free=values.get("HugePages_Free"),
        hugepages_reserved=values.get("HugePages_Rsvd"),
        hugepages_surplus=values.get("HugePages_Surp"),
        hugepage_size_bytes=values.get("Hugepagesize"),
        by_name=values,
    )


def _parse_line(line_no: int, line: str, values: dict[str, int]) -> None:
    name, sep, rest = line.partition(":")
    parts = rest.split()
    if not sep or not parts or len(parts) > 2:
        raise ParseError(_SOURCE, line_no, line, "expected 'Name: value [kB]'")
    try:
        value = int(parts[0])
    except ValueError as exc:
        raise ParseError(_SOURCE, line_no, line, "value is not an integer") from exc
    if len(parts) == 2:
        if parts[1] != "kB":
            raise ParseError(_SOURCE, line_no, line, f"unknown unit {parts[1]!r}")
        value *= BYTES_PER_KB
    values[name.strip()] = value
