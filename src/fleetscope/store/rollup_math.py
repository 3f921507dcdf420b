"""The rollup tiers' math, pure: min/max/sum/count of every series of a bucket, merged from
finer buckets, packed into a stats blob, and read back one aggregate at a time; and the hourly
numbers of a process group. store/rollups.py is the I/O around it, query/ reads with it.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetscope.store.frames import (
    NAN,
    compress_frame,
    decompress_frame,
    pack_values,
    unpack_values,
)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Stats:
    """Per-series min, max, sum and count over a bucket, in layout order."""

    min: array[float]
    max: array[float]
    sum: array[float]
    count: array[float]

    def __len__(self) -> int:
        return len(self.count)


# Below this many series the loops below beat numpy, whose cost per call and per frame or
# part is larger than theirs for a few series (query/metrics.py merges one series at a time;
# the crossover: docs/deployment.md, issue 17).
NUMPY_MIN_SERIES = 64


def frames_stats(frames: Sequence[Sequence[float]] | np.ndarray) -> Stats:
    """The stats of snapshots that share one layout (a matrix [snapshot, series] or rows);
    NaN is an absent value.

    A bucket of a whole layout is reduced by numpy, column-wise, in the order the loop adds
    (docs/deployment.md, issue 17); a small one by the loop."""
    if isinstance(frames, np.ndarray):
        if frames.shape[1] < NUMPY_MIN_SERIES:
            return frames_stats_loop(frames.tolist())
        with np.errstate(over="ignore", invalid="ignore"):
            # C order: numpy then reduces row after row, the loop's order.
            return _matrix_stats(np.ascontiguousarray(frames, dtype=np.float64))
    if frames and len(frames[0]) >= NUMPY_MIN_SERIES:
        # Overflow to ±inf and inf - inf = NaN, silently, as float arithmetic in Python.
        with np.errstate(over="ignore", invalid="ignore"):
            return _frames_stats_numpy(frames)
    return frames_stats_loop(frames)


def merge_stats(parts: Sequence[Stats]) -> Stats:
    """The stats of the union of the parts' buckets (same layout): an hour from its minutes."""
    if parts and len(parts[0]) >= NUMPY_MIN_SERIES:
        with np.errstate(over="ignore", invalid="ignore"):
            return _merge_stats_numpy(parts)
    return merge_stats_loop(parts)


def _array(values: Any) -> array[float]:
    out = array("d")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return out


def _frames_stats_numpy(frames: Sequence[Sequence[float]]) -> Stats:
    return _matrix_stats(np.vstack([np.asarray(frame, dtype=np.float64) for frame in frames]))


def _matrix_stats(matrix: np.ndarray) -> Stats:
    present = ~np.isnan(matrix)
    counts = present.sum(axis=0, dtype=np.float64)
    if present.all():
        mins, maxs = matrix.min(axis=0), matrix.max(axis=0)
        # initial=0.0: the loop's sum() starts from 0 too, so -0.0 sums alike.
        sums = np.add.reduce(matrix, axis=0, initial=0.0)
    else:
        mins = np.where(present, matrix, np.inf).min(axis=0)
        maxs = np.where(present, matrix, -np.inf).max(axis=0)
        sums = np.add.reduce(np.where(present, matrix, 0.0), axis=0, initial=0.0)
        empty = counts == 0
        mins[empty] = np.nan
        maxs[empty] = np.nan
    return Stats(_array(mins), _array(maxs), _array(sums), _array(counts))


def _merge_stats_numpy(parts: Sequence[Stats]) -> Stats:
    lows = np.vstack([np.frombuffer(p.min, dtype=np.float64) for p in parts])
    highs = np.vstack([np.frombuffer(p.max, dtype=np.float64) for p in parts])
    totals = np.vstack([np.frombuffer(p.sum, dtype=np.float64) for p in parts])
    counts = np.vstack([np.frombuffer(p.count, dtype=np.float64) for p in parts])
    held = counts > 0
    n = np.add.reduce(counts, axis=0, initial=0.0)
    mins = np.where(held, lows, np.inf).min(axis=0)
    maxs = np.where(held, highs, -np.inf).max(axis=0)
    empty = n == 0
    mins[empty] = np.nan
    maxs[empty] = np.nan
    sums = np.add.reduce(totals, axis=0, initial=0.0)
    return Stats(_array(mins), _array(maxs), _array(sums), _array(n))


def frames_stats_loop(frames: Sequence[Sequence[float]]) -> Stats:
    """frames_stats without numpy. min, max and sum of every column run as map() over the
    columns, in C; only a column whose sum is NaN (it holds an absent value) is filtered and
    done again value by value, which measured faster than a loop (docs/deployment.md, "Rollup
    stats"). merge_stats_loop done the same way measured slower, so it stays a loop."""
    columns = list(zip(*frames, strict=True))
    sums = array("d", map(sum, columns))
    mins = array("d", map(min, columns))
    maxs = array("d", map(max, columns))
    counts = array("d", [float(len(frames))]) * len(columns)
    if math.isnan(sum(sums)):  # some column has an absent value (or +inf and -inf)
        for index, total in enumerate(sums):
            if not math.isnan(total):
                continue
            column = columns[index]
            present = [v for v in column if not math.isnan(v)]
            filtered = sum(present) if len(present) != len(column) else total
            mins[index] = min(present) if present else NAN
            maxs[index] = max(present) if present else NAN
            sums[index] = filtered if present else 0.0
            counts[index] = float(len(present))
    return Stats(mins, maxs, sums, counts)


def merge_stats_loop(parts: Sequence[Stats]) -> Stats:
    """merge_stats without numpy."""
    mins, maxs, sums, counts = array("d"), array("d"), array("d"), array("d")
    columns = zip(
        zip(*(p.min for p in parts), strict=True),
        zip(*(p.max for p in parts), strict=True),
        zip(*(p.sum for p in parts), strict=True),
        zip(*(p.count for p in parts), strict=True),
        strict=True,
    )
    for lo, hi, total, count in columns:
        n = sum(count)
        if n == 0:
            mins.append(NAN)
            maxs.append(NAN)
        elif all(c > 0 for c in count):
            mins.append(min(lo))
            maxs.append(max(hi))
        else:
            mins.append(min(v for v, c in zip(lo, count, strict=True) if c > 0))
            maxs.append(max(v for v, c in zip(hi, count, strict=True) if c > 0))
        sums.append(sum(total))
        counts.append(n)
    return Stats(mins, maxs, sums, counts)


def encode_stats(stats: Stats) -> bytes:
    return compress_frame(
        b"".join(pack_values(a) for a in (stats.min, stats.max, stats.sum, stats.count))
    )


def decode_stats(blob: bytes) -> Stats:
    values = unpack_values(decompress_frame(blob))
    n = len(values) // 4
    return Stats(values[:n], values[n : 2 * n], values[2 * n : 3 * n], values[3 * n :])


def value_of(stats: Stats, index: int, agg: str) -> float | None:
    """One aggregate of one series; None when the bucket holds no value of it."""
    count = stats.count[index]
    if count == 0:
        return None
    if agg == "avg":
        return stats.sum[index] / count
    if agg == "min":
        return stats.min[index]
    if agg == "max":
        return stats.max[index]
    if agg == "sum":
        return stats.sum[index]
    if agg == "count":
        return count
    raise ValueError(f"unknown aggregate {agg!r}: avg, min, max, sum or count")


def counter_step(previous: float, current: float) -> float:
    """A cumulative counter's increase from one sample to the next: a negative step is a reset
    (a process of the group exited, the agent restarted), the new value counted from zero.
    query/processes.py's SQL applies the same rule."""
    return current if current < previous else current - previous


@dataclass(slots=True)
class GroupHour:
    """One group's samples within one hour: what the top-N query needs of them, exactly."""

    samples: int
    memory_sum: int
    memory_max: int
    num_procs_max: int
    first_ts_ms: int
    first_cpu: float
    last_ts_ms: int
    last_cpu: float
    cpu_increase: float  # the sum of the within-hour steps (counter_step)


def group_hours(rows: Iterable[Sequence[Any]]) -> dict[tuple[int, str], GroupHour]:
    """(hour start, group) -> GroupHour, from one host's rows (ts_ms, group_name, num_procs,
    cpu_seconds_total, memory_bytes) sorted by ts_ms."""
    out: dict[tuple[int, str], GroupHour] = {}
    for ts, name, procs, cpu, memory in rows:
        key = (ts // HOUR_MS * HOUR_MS, name)
        hour = out.get(key)
        if hour is None:
            out[key] = GroupHour(1, memory, memory, procs, ts, cpu, ts, cpu, 0.0)
            continue
        hour.samples += 1
        hour.memory_sum += memory
        hour.memory_max = max(hour.memory_max, memory)
        hour.num_procs_max = max(hour.num_procs_max, procs)
        hour.cpu_increase += counter_step(hour.last_cpu, cpu)
        hour.last_ts_ms = ts
        hour.last_cpu = cpu
    return out
