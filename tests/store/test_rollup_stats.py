"""frames_stats and merge_stats (map() over columns) agree with the plain per-value
definition, absent values (NaN) and empty columns included."""

from __future__ import annotations

import math
import random
from array import array

from fleetscope.store.rollup_math import Stats, frames_stats, merge_stats

NAN = float("nan")


def reference_frames_stats(frames: list[list[float]]) -> Stats:
    mins, maxs, sums, counts = array("d"), array("d"), array("d"), array("d")
    for column in zip(*frames, strict=True):
        present = [v for v in column if not math.isnan(v)]
        mins.append(min(present) if present else NAN)
        maxs.append(max(present) if present else NAN)
        sums.append(sum(present))
        counts.append(float(len(present)))
    return Stats(mins, maxs, sums, counts)


def same(a: Stats, b: Stats) -> bool:
    def eq(x: array[float], y: array[float]) -> bool:
        return len(x) == len(y) and all(
            (math.isnan(p) and math.isnan(q)) or math.isclose(p, q)
            for p, q in zip(x, y, strict=True)
        )

    return eq(a.min, b.min) and eq(a.max, b.max) and eq(a.sum, b.sum) and eq(a.count, b.count)


def frames(rng: random.Random, rows: int, columns: int, absent: float) -> list[list[float]]:
    return [
        [NAN if rng.random() < absent else rng.uniform(-1e6, 1e6) for _ in range(columns)]
        for _ in range(rows)
    ]


def test_frames_stats_agrees_with_the_definition() -> None:
    rng = random.Random(5)
    for absent in (0.0, 0.05, 0.5, 1.0):
        for rows in (1, 2, 6):
            data = frames(rng, rows, 40, absent)
            assert same(frames_stats(data), reference_frames_stats(data)), (absent, rows)
    assert len(frames_stats([])) == 0


def test_merge_stats_equals_the_stats_of_all_frames() -> None:
    rng = random.Random(6)
    for absent in (0.0, 0.1, 0.7, 1.0):
        minutes = [frames(rng, rng.randint(1, 6), 30, absent) for _ in range(12)]
        merged = merge_stats([frames_stats(m) for m in minutes])
        everything = [row for m in minutes for row in m]
        assert same(merged, reference_frames_stats(everything)), absent


def test_a_column_absent_from_some_minutes() -> None:
    first = frames_stats([[1.0, NAN], [3.0, NAN]])
    second = frames_stats([[NAN, 5.0], [2.0, 7.0]])
    merged = merge_stats([first, second])
    assert list(merged.min) == [1.0, 5.0]
    assert list(merged.max) == [3.0, 7.0]
    assert list(merged.sum) == [6.0, 12.0]
    assert list(merged.count) == [3.0, 2.0]
