"""Packing a snapshot's values into a frame blob, and back.

Values are IEEE-754 float64, little-endian, in layout order; an absent value is NaN. Written
with the stdlib `array` (C speed, no numpy dependency on the server's hot path).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from array import array
from collections.abc import Sequence

_BIG_ENDIAN = sys.byteorder == "big"
NAN = float("nan")


def pack_values(values: Sequence[float | None]) -> bytes:
    packed = array("d", [NAN if v is None else v for v in values])
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def unpack_values(blob: bytes) -> array[float]:
    values = array("d")
    values.frombytes(blob)
    if _BIG_ENDIAN:
        values.byteswap()
    return values


def value_or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def layout_digest(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def layout_json(keys: Sequence[str]) -> str:
    return json.dumps(list(keys), separators=(",", ":"))
