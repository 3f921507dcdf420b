"""A snapshot's values as a frame blob, and back.

The blob is one zstd frame (level 3, no dictionary) holding the values as IEEE-754 float64,
little-endian, in layout order; an absent value is NaN. Compressed because a raw frame costs
8 B per value before row overhead, and on SQLite a row that large spills into overflow pages
of a WITHOUT ROWID table; what zstd saves on a realistic frame is measured in docs/data-model.md
("Measured"). A zstd frame says which dictionary it was made with (its header carries the
dictionary id), so dictionary-compressed frames can be added later beside these.

Packing uses the stdlib `array` (C speed, no numpy dependency on the server's hot path).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import threading
from array import array
from collections.abc import Sequence

import zstandard

_BIG_ENDIAN = sys.byteorder == "big"
NAN = float("nan")
# Level 3 rather than 1: smaller frames for about the same CPU (docs/data-model.md, "Measured").
ZSTD_LEVEL = 3
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _Codecs(threading.local):
    """zstd contexts are not safe to share between threads, and making one per call costs
    many times what a reused one does (docs/data-model.md, "Reading"), so each thread keeps
    its own."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_codecs = _Codecs()


def pack_values(values: Sequence[float | None]) -> bytes:
    """The raw little-endian float64 bytes (the content of a frame, uncompressed)."""
    if isinstance(values, array):  # floats already, NaN for absent (the rollups' stats)
        return pack_array(values)
    packed = array("d", [NAN if v is None else v for v in values])
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def pack_array(values: array[float]) -> bytes:
    """pack_values of a float array, without a pass over its values in Python. A copy only
    where one is needed (another typecode, or bytes to swap)."""
    packed = values if values.typecode == "d" and not _BIG_ENDIAN else array("d", values)
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def unpack_values(raw: bytes) -> array[float]:
    values = array("d")
    values.frombytes(raw)
    if _BIG_ENDIAN:
        values.byteswap()
    return values


def encode_frame(values: Sequence[float | None]) -> bytes:
    return compress_frame(pack_values(values))


def compress_frame(raw: bytes) -> bytes:
    compressed: bytes = _codecs.compressor.compress(raw)
    return compressed


def decompress_frame(blob: bytes) -> bytes:
    raw: bytes = _codecs.decompressor.decompress(blob)
    return raw


def decode_frame(blob: bytes) -> array[float]:
    return unpack_values(decompress_frame(blob))


def value_or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def layout_digest(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def layout_json(keys: Sequence[str]) -> str:
    return json.dumps(list(keys), separators=(",", ":"))
