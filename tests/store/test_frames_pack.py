"""pack_values of a float array (the rollups' stats) takes the array's bytes as they are: the
same bytes as the value-by-value path gives for the same values, NaN where None was."""

from __future__ import annotations

import math
import struct
from array import array

from fleetscope.store.frames import NAN, pack_array, pack_values, unpack_values
from fleetscope.store.rollup_math import Stats, decode_stats, encode_stats


def _by_value(values: list[float | None]) -> bytes:
    return b"".join(struct.pack("<d", NAN if v is None else v) for v in values)


def test_an_array_packs_to_the_bytes_of_its_values() -> None:
    values: list[float | None] = [0.0, -1.5, None, 1e300, math.inf, 7.0]
    floats = array("d", [NAN if v is None else v for v in values])
    assert pack_values(floats) == pack_array(floats) == pack_values(values) == _by_value(values)
    assert pack_values(array("f", [1.0, 2.5])) == _by_value([1.0, 2.5])
    assert pack_values(array("d")) == b""


def test_stats_round_trip_through_the_array_path() -> None:
    stats = Stats(
        array("d", [1.0, NAN]), array("d", [2.0, NAN]), array("d", [3.0, 0.0]), array("d", [2, 0])
    )
    back = decode_stats(encode_stats(stats))
    raw = unpack_values(pack_values(stats.min))
    assert raw[0] == 1.0 and math.isnan(raw[1])
    assert back.max[0] == 2.0 and math.isnan(back.max[1])
    assert list(back.sum) == [3.0, 0.0] and list(back.count) == [2.0, 0.0]
