"""frames_stats and merge_stats reduce a whole layout with numpy and a few series with the
loops (store/rollup_math.py NUMPY_MIN_SERIES): both give the same stats, value for value and
bit for bit (the sums add in the same order), absent values, infinities, signed zeros and
empty columns included, on either side of the threshold."""

from __future__ import annotations

import math
import random
import struct
from array import array

import numpy as np
import pytest

from fleetscope.store.rollup_math import (
    NUMPY_MIN_SERIES,
    Stats,
    frames_stats,
    frames_stats_loop,
    merge_stats,
    merge_stats_loop,
)

NAN = float("nan")
SPECIAL = [NAN, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1e308]


def bits(values: array[float]) -> list[bytes]:
    """Each value's bytes, NaNs alike (a NaN's payload says nothing)."""
    return [b"nan" if math.isnan(v) else struct.pack("<d", v) for v in values]


def same_bits(a: Stats, b: Stats) -> bool:
    return all(
        bits(x) == bits(y)
        for x, y in ((a.min, b.min), (a.max, b.max), (a.sum, b.sum), (a.count, b.count))
    )


def frames(rng: random.Random, rows: int, columns: int, absent: float) -> list[list[float]]:
    """Values of mixed magnitudes (sums that round), absent values, and a few specials."""
    out = []
    for _ in range(rows):
        row = []
        for _ in range(columns):
            pick = rng.random()
            if pick < absent:
                row.append(NAN)
            elif pick < absent + 0.02:
                row.append(rng.choice(SPECIAL))
            else:
                row.append(rng.uniform(-1, 1) * 10 ** rng.randint(-3, 12))
        out.append(row)
    return out


@pytest.mark.parametrize("absent", [0.0, 0.01, 0.3, 1.0])
@pytest.mark.parametrize(("rows", "columns"), [(6, 646), (60, 120), (1, 600), (6, 3), (2, 1)])
def test_frames_stats_numpy_and_loop_agree(absent: float, rows: int, columns: int) -> None:
    rng = random.Random(rows * 1000 + columns)
    data = frames(rng, rows, columns, absent)
    as_arrays = [array("d", row) for row in data]  # what rollups pass: decoded frames
    expected = frames_stats_loop(data)
    assert same_bits(frames_stats(data), expected)
    assert same_bits(frames_stats(as_arrays), expected)
    assert same_bits(frames_stats(np.array(data)), expected)  # what the rollup step passes
    assert same_bits(frames_stats(np.asfortranarray(data)), expected)


@pytest.mark.parametrize("absent", [0.0, 0.05, 0.6, 1.0])
@pytest.mark.parametrize(("minutes", "columns"), [(60, 646), (12, 200), (3, 2)])
def test_merge_stats_numpy_and_loop_agree(absent: float, minutes: int, columns: int) -> None:
    rng = random.Random(minutes * 1000 + columns)
    parts = [
        frames_stats_loop(frames(rng, rng.randint(1, 6), columns, absent)) for _ in range(minutes)
    ]
    assert same_bits(merge_stats(parts), merge_stats_loop(parts))


def test_the_threshold_picks_numpy_for_a_layout_and_the_loop_for_one_series() -> None:
    """A minute of the simulator's layout is above it, query/metrics.py's one-series merges
    of an hour's minutes below."""
    assert 646 >= NUMPY_MIN_SERIES > 1
    assert len(frames_stats([])) == 0 and len(merge_stats([])) == 0
