"""Parser for /proc/diskstats (block device I/O counters since boot).

Field layout: Documentation/admin-guide/iostats.rst. A line has 14 fields before kernel 4.18,
18 from 4.18 (discard counters) and 20 from 5.5 (flush counters); all three occur in the
node_exporter fixture, so each generation is parsed and the newer counters are None when absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

# The kernel counts diskstats sectors in 512-byte units whatever the device's logical block size
# (iostats.rst: "sectors" are always 512 bytes; block/genhd.c shifts by SECTOR_SHIFT = 9).
SECTOR_BYTES = 512
# Times are in milliseconds. node_exporter multiplies by 0.001 (diskstats_linux.go
# secondsPerTick) rather than dividing by 1000; the two differ in the last bit for values like
# 45992 ms, so we use the same multiplication to agree with it exactly.
SECONDS_PER_MS = 0.001

_SOURCE = "/proc/diskstats"
_FIELDS_BASE = 14
_FIELDS_DISCARD = 18
_FIELDS_FLUSH = 20


@dataclass(frozen=True, slots=True)
class DiskStats:
    """One block device. discard_* are None before kernel 4.18, flush_* before 5.5."""

    major: int
    minor: int
    device: str
    reads_completed_total: int
    reads_merged_total: int
    read_bytes_total: int
    read_time_seconds_total: float
    writes_completed_total: int
    writes_merged_total: int
    written_bytes_total: int
    write_time_seconds_total: float
    io_in_progress: int
    io_time_seconds_total: float
    io_time_weighted_seconds_total: float
    discards_completed_total: int | None
    discards_merged_total: int | None
    discarded_bytes_total: int | None
    discard_time_seconds_total: float | None
    flush_requests_total: int | None
    flush_time_seconds_total: float | None


def parse_diskstats(text: str, skip: Callable[[str], bool] | None = None) -> dict[str, DiskStats]:
    """Devices by name, in file order; those whose name `skip` is true for are left out
    before their counters are converted (the disk collector's exclude pattern drops most
    lines on a host with loop devices), their layout still checked."""
    disks: dict[str, DiskStats] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        count = len(parts)
        # Fewer than 14 fields, or a count between the known generations, is not a layout any
        # kernel wrote. More than 20 is accepted: a future kernel appending counters should not
        # blind the agent to the ones it knows.
        if count < _FIELDS_BASE or _FIELDS_BASE < count < _FIELDS_DISCARD or count == 19:
            raise ParseError(_SOURCE, line_no, line, f"expected 14, 18 or 20 fields, got {count}")
        if skip is not None and skip(parts[2]):
            continue
        try:
            major, minor = int(parts[0]), int(parts[1])
            n = [int(field) for field in parts[3:]]
        except ValueError as exc:
            raise ParseError(_SOURCE, line_no, line, "counter is not an integer") from exc
        has_discard = count >= _FIELDS_DISCARD
        has_flush = count >= _FIELDS_FLUSH
        disks[parts[2]] = DiskStats(
            major=major,
            minor=minor,
            device=parts[2],
            reads_completed_total=n[0],
            reads_merged_total=n[1],
            read_bytes_total=n[2] * SECTOR_BYTES,
            read_time_seconds_total=n[3] * SECONDS_PER_MS,
            writes_completed_total=n[4],
            writes_merged_total=n[5],
            written_bytes_total=n[6] * SECTOR_BYTES,
            write_time_seconds_total=n[7] * SECONDS_PER_MS,
            io_in_progress=n[8],
            io_time_seconds_total=n[9] * SECONDS_PER_MS,
            io_time_weighted_seconds_total=n[10] * SECONDS_PER_MS,
            discards_completed_total=n[11] if has_discard else None,
            discards_merged_total=n[12] if has_discard else None,
            discarded_bytes_total=n[13] * SECTOR_BYTES if has_discard else None,
            discard_time_seconds_total=n[14] * SECONDS_PER_MS if has_discard else None,
            flush_requests_total=n[15] if has_flush else None,
            flush_time_seconds_total=n[16] * SECONDS_PER_MS if has_flush else None,
        )
    return disks
