"""Several consecutive snapshots of one host and layout in one metric_frames row (a chunk).

A row's `ts_ms` is its first snapshot's time; its `vals` blob is one of:

- **a frame** (rows written before chunks, format 0): one zstd frame of float64 values
  (store/frames.py), the row's only snapshot. Its first byte is zstd's magic, 0x28.
- **a chunk** (format 1): the byte 0x01, the varint n (snapshots), n - 1 varints (each
  snapshot's time after the one before; the first is the row's `ts_ms`), then one zstd frame
  of `varint m` (values per snapshot: the layout's length), m kind bytes, m width bytes and:
  - for every series of kind 0-3 (values as integers scaled by 10**kind), its first value
    zigzagged in 8 bytes, then its n - 1 zigzagged steps in `width` bytes each (0: it did not
    move), grouped by width (1, 2, 4, 8), series by series, little-endian;
  - for every series of kind 4, its n values' IEEE-754 bits, each XORed with the previous
    value's, big-endian (the bytes that a slowly moving value shares with the one before come
    first and are zero).
  The times are outside the zstd frame so that a reader learns which snapshots a row holds
  without decompressing it (`chunk_times`).

  A series is of kind k in 0-3 when every value of the chunk is finite and is exactly
  int(v * 10**k) / 10**k with the smallest such k (counters, byte and tick counts, CPU seconds
  in hundredths); anything else (NaN for absent, ±inf, -0.0, full-precision gauges) is kind 4.
  Decoding therefore gives back every value's bits exactly.

Why: a frame alone costs 3.7-4.3 B per sample on disk; a chunk shares one row's overhead
(tuple header, key, index entry) between its snapshots, and a series' steps take far fewer
bytes than its values (docs/data-model.md, "metric_frames" and "Measured"). The layout is
Gorilla's and Prometheus' (delta timestamps, integer deltas, XOR floats) with byte widths and
zstd instead of bit packing, so that numpy does every step for a whole chunk at once.

A chunk holds at most CHUNK_MAX_FRAMES snapshots spanning less than CHUNK_SPAN_MS, within one
UTC day (a PostgreSQL partition and SQLite's retention see it whole), so a reader of [start,
end] reads the rows with `ts_ms` in [start - CHUNK_SPAN_MS + 1, end] and keeps the snapshots
in range (`frames_in_range`).
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import zstandard

from fleetscope.store.frames import ZSTD_LEVEL, decode_frame

CHUNK_FORMAT = 1
CHUNK_SPAN_MS = 300_000
CHUNK_MAX_FRAMES = 120
# A chunk's blob stays below what a row keeps in its own page (`max_chunk_bytes`): SQLite's
# WITHOUT ROWID table puts the rest of a larger row in whole overflow pages of its own
# (measured: 6-snapshot chunks of 1.5 kB in 4 kB pages cost more than single frames), and
# PostgreSQL moves a row over 2,032 bytes to TOAST. The key columns take the difference.
POSTGRESQL_MAX_CHUNK_BYTES = 1_900
_KEY_BYTES = 40


def max_chunk_bytes(dialect: str, page_size: int) -> int:
    """The largest blob a row keeps in its page: on SQLite, what an index b-tree cell holds
    locally at most, (page - 12) * 64 / 255 - 23 (sqlite.org/fileformat2.html, "Cell Payload
    Overflow Pages"), less the key."""
    if dialect != "sqlite":
        return POSTGRESQL_MAX_CHUNK_BYTES
    return (page_size - 12) * 64 // 255 - 23 - _KEY_BYTES


DAY_MS = 86_400_000
_XOR = 4
_MAX_EXACT = float(2**53)  # integers beyond this are not all representable as float64
_SCALES = np.array([1.0, 10.0, 100.0, 1000.0])
_WIDTHS = (1, 2, 4, 8)

FrameValues = tuple[int, "array[float]"]  # a snapshot's time and its values, NaN for absent


class _Codecs(threading.local):
    """zstd contexts may not be shared between threads (as in store/frames.py)."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_codecs = _Codecs()


def _varints(values: Sequence[int]) -> bytes:
    out = bytearray()
    for value in values:
        rest = value
        while rest >= 0x80:
            out.append(rest & 0x7F | 0x80)
            rest >>= 7
        out.append(rest)
    return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    """One LEB128 value at data[at:] and the offset after it."""
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("chunk: a truncated or overlong varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        shift += 7
        if byte < 0x80:
            return value, at


def _zigzag(values: np.ndarray) -> np.ndarray:
    return ((values << 1) ^ (values >> 63)).view(np.uint64)


def _unzigzag(values: np.ndarray) -> np.ndarray:
    one = np.uint64(1)
    return (values >> one).view(np.int64) ^ -((values & one).view(np.int64))


def series_kinds(matrix: np.ndarray) -> np.ndarray:
    """Each series' kind: the smallest decimal scale that gives its values back exactly, or
    _XOR. Whole numbers are checked for the whole matrix at once; only the series left (few
    in a real snapshot) are tried at the other scales."""
    kinds = np.full(matrix.shape[1], _XOR, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        whole = (
            (np.rint(matrix) == matrix)  # False for NaN
            & (np.abs(matrix) < _MAX_EXACT)  # False for ±inf
            & ~((matrix == 0) & np.signbit(matrix))  # -0.0 would come back as 0.0
        ).all(axis=0)
    kinds[whole] = 0
    rest = np.flatnonzero(np.isfinite(matrix).all(axis=0) & ~whole)
    if rest.size == 0:
        return kinds
    values = matrix[:, rest]
    bits = values.view(np.int64)
    undecided = np.ones(rest.size, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, len(_SCALES)):
            scaled = np.rint(values * _SCALES[k])
            small = np.abs(scaled) < _MAX_EXACT
            back = np.where(small, scaled, 0.0).astype(np.int64).astype(np.float64) / _SCALES[k]
            exact = undecided & small.all(axis=0) & (back.view(np.int64) == bits).all(axis=0)
            kinds[rest[exact]] = k
            undecided &= ~exact
    return kinds


def _widths(steps: np.ndarray) -> np.ndarray:
    """Bytes per step of each column of zigzagged steps: 0 (none moves), 1, 2, 4 or 8."""
    top: np.ndarray = steps.max(axis=0, initial=0)
    widths: np.ndarray = (top > 0).astype(np.uint8)
    widths += top >= 2**8
    widths += 2 * (top >= 2**16).astype(np.uint8)
    widths += 4 * (top >= 2**32).astype(np.uint8)
    return widths


def encode_chunk(
    timestamps: Sequence[int], frames: Sequence[Sequence[float | None]] | np.ndarray
) -> bytes:
    """One chunk of snapshots of one layout, in time order (None for absent). The row that
    holds it has `ts_ms` = timestamps[0]."""
    if len(frames) == 0 or len(timestamps) != len(frames):
        raise ValueError("a chunk needs one timestamp per snapshot, and at least one")
    matrix = np.array(frames, dtype=np.float64).reshape(len(frames), -1)
    n, m = matrix.shape
    kinds = series_kinds(matrix)
    ints = kinds < _XOR
    scaled = np.rint(matrix[:, ints] * _SCALES[kinds[ints]]).astype(np.int64)
    steps = _zigzag(np.diff(scaled, axis=0))
    widths = _widths(steps)
    all_widths = np.zeros(m, dtype=np.uint8)
    all_widths[ints] = widths
    ts = np.asarray(timestamps, dtype=np.int64)
    bits = matrix[:, ~ints].view(np.int64)
    xors = np.concatenate((bits[:1], bits[1:] ^ bits[:-1]))
    if n > 1 and not (np.diff(ts) > 0).all():
        raise ValueError("a chunk's timestamps must increase")
    head = _varints([n, *np.diff(ts).tolist()])
    parts = [
        _varints((m,)),
        kinds.tobytes(),
        all_widths.tobytes(),
        _zigzag(scaled[0]).astype("<u8").tobytes(),
    ]
    for width in _WIDTHS:
        parts.append(steps[:, widths == width].T.astype(f"<u{width}").tobytes())
    parts.append(xors.T.astype(">i8").tobytes())
    compressed: bytes = _codecs.compressor.compress(b"".join(parts))
    return bytes((CHUNK_FORMAT,)) + head + compressed


def chunk_times(ts_ms: int, blob: bytes) -> tuple[list[int], int]:
    """The snapshot times of a row (without decompressing its values), and where its zstd
    frame starts (0 for a frame of format 0)."""
    if blob[:1] != bytes((CHUNK_FORMAT,)):
        return [ts_ms], 0
    n, at = _read_varint(blob, 1)
    if n < 1:
        raise ValueError("chunk: no snapshots")
    times = [ts_ms]
    for _ in range(n - 1):
        step, at = _read_varint(blob, at)
        times.append(times[-1] + step)
    return times, at


def decode_rows(ts_ms: int, blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, values[snapshot, series]) of one row, a chunk or a frame of format 0."""
    times, start = chunk_times(ts_ms, blob)
    if start == 0:
        values = np.frombuffer(decode_frame(blob), dtype=np.float64)
        return np.array(times, dtype=np.int64), values.reshape(1, -1)
    n = len(times)
    data = _codecs.decompressor.decompress(blob[start:])
    m, at = _read_varint(data, 0)
    kinds = np.frombuffer(data, dtype=np.uint8, count=m, offset=at)
    widths = np.frombuffer(data, dtype=np.uint8, count=m, offset=at + m)
    at += 2 * m
    ints = kinds < _XOR
    n_ints = int(ints.sum())
    widths = widths[ints]

    def take(dtype: str, count: int) -> np.ndarray:
        nonlocal at
        out = np.frombuffer(data, dtype=dtype, count=count, offset=at)
        at += out.nbytes
        return out

    ts = np.array(times, dtype=np.int64)
    steps = np.zeros((n, n_ints), dtype=np.uint64)
    steps[0] = take("<u8", n_ints)
    # The steps are stored by width, each width's series in their order: in the order of a
    # stable sort by width, one contiguous block per width.
    by_width = np.zeros((n - 1, n_ints), dtype=np.uint64)
    counts = np.bincount(widths, minlength=9)
    col = int(counts[0])
    for width in _WIDTHS:
        count = int(counts[width])
        if count:
            block = take(f"<u{width}", count * (n - 1)).reshape(count, n - 1)
            by_width[:, col : col + count] = block.T
            col += count
    steps[1:, np.argsort(widths, kind="stable")] = by_width
    n_xor = m - n_ints
    xors = take(">i8", n_xor * n).reshape(n_xor, n).T.astype(np.int64)
    if at != len(data):
        raise ValueError("chunk: its length does not match its header")
    out = np.empty((n, m), dtype=np.float64)
    scaled = np.cumsum(_unzigzag(steps), axis=0)
    out[:, ints] = scaled.astype(np.float64) / _SCALES[kinds[ints]]
    out[:, ~ints] = np.bitwise_xor.accumulate(xors, axis=0).view(np.float64)
    return ts, out


def decode_columns(
    ts_ms: int, blob: bytes, columns: Sequence[int] | np.ndarray
) -> tuple[list[int], np.ndarray]:
    """(times, values[snapshot, k]) of one row's series at the given positions only: a
    chunk's series are stored one after the other, so a reader of a few series (the host
    page's charts, a PromQL selector) skips the others."""
    times, start = chunk_times(ts_ms, blob)
    wanted = np.asarray(columns, dtype=np.intp)
    if start == 0:
        values = np.frombuffer(decode_frame(blob), dtype=np.float64)
        return times, values[wanted].reshape(1, -1)
    n = len(times)
    data = _codecs.decompressor.decompress(blob[start:])
    m, at = _read_varint(data, 0)
    header = (n, data[at : at + 2 * m])
    where = _layouts.get(header)
    if where is None:
        if len(_layouts) >= _MAX_LAYOUTS:
            _layouts.clear()
        where = _layouts[header] = _locate(data, n, m, at)
    out = np.empty((n, len(wanted)), dtype=np.float64)
    for k, column in enumerate(wanted.tolist()):
        kind, first_at, width, steps_at = where[column]
        if kind == _XOR:
            xors = np.frombuffer(data, dtype=">i8", count=n, offset=first_at).astype(np.int64)
            out[:, k] = np.bitwise_xor.accumulate(xors).view(np.float64)
            continue
        steps = np.zeros(n, dtype=np.uint64)
        steps[0] = np.frombuffer(data, dtype="<u8", count=1, offset=first_at)[0]
        if width:
            steps[1:] = np.frombuffer(data, dtype=f"<u{width}", count=n - 1, offset=steps_at)
        scaled = np.cumsum(_unzigzag(steps))
        out[:, k] = scaled.astype(np.float64) / _SCALES[kind]
    return times, out


# Where each series of a chunk is, by (snapshots, kind and width bytes): chunks of one layout
# mostly share these, and working them out is most of reading a few series of a chunk.
_Where = list[tuple[int, int, int, int]]  # per series: kind, first value or xors, width, steps
_layouts: dict[tuple[int, bytes], _Where] = {}
_MAX_LAYOUTS = 4096


def _locate(data: bytes, n: int, m: int, at: int) -> _Where:
    kinds = np.frombuffer(data, dtype=np.uint8, count=m, offset=at)
    widths = np.frombuffer(data, dtype=np.uint8, count=m, offset=at + m)
    at += 2 * m
    ints = kinds < _XOR
    int_widths = widths[ints]
    n_ints = len(int_widths)
    counts = np.bincount(int_widths, minlength=9)
    # Each width's block holds its series in their order (decode_rows); the xor words follow.
    block_at: dict[int, int] = {}
    offset = at + 8 * n_ints
    for width in _WIDTHS:
        block_at[width] = offset
        offset += int(counts[width]) * width * (n - 1)
    xor_at = offset
    seen = dict.fromkeys(_WIDTHS, 0)
    out: _Where = []
    int_rank = xor_rank = 0
    for kind, width in zip(kinds.tolist(), widths.tolist(), strict=True):
        if kind == _XOR:
            out.append((kind, xor_at + 8 * n * xor_rank, 0, 0))
            xor_rank += 1
            continue
        steps_at = 0
        if width:
            steps_at = block_at[width] + seen[width] * width * (n - 1)
            seen[width] += 1
        out.append((kind, at + 8 * int_rank, width, steps_at))
        int_rank += 1
    return out


def columns_in_range(
    rows: Iterable[tuple[int, int, bytes]],
    start_ms: int,
    end_ms: int,
    columns_of: Callable[[int], Sequence[int]],
) -> list[tuple[int, int, list[float]]]:
    """As frames_in_range, with only the values at columns_of(layout_id) of each snapshot."""
    found: dict[tuple[int, int], list[float]] = {}
    for row_ts, layout_id, blob in rows:
        times, _ = chunk_times(row_ts, blob)
        if times[-1] < start_ms or row_ts > end_ms:
            continue  # a row of the lookback that ends before the range
        columns = columns_of(layout_id)
        times, values = decode_columns(row_ts, blob, columns)
        for ts, row in zip(times, values.tolist(), strict=True):
            if start_ms <= ts <= end_ms:
                found.setdefault((ts, layout_id), row)
    return [(ts, layout_id, values) for (ts, layout_id), values in sorted(found.items())]


def decode_chunk(ts_ms: int, blob: bytes) -> list[FrameValues]:
    """Every snapshot of one row, as (time, values)."""
    ts, values = decode_rows(ts_ms, blob)
    out = []
    for t, row in zip(ts.tolist(), values, strict=True):
        frame = array("d")
        frame.frombytes(row.tobytes())
        out.append((t, frame))
    return out


def lookback(start_ms: int) -> int:
    """The smallest row time whose chunk may hold a snapshot at or after start_ms."""
    return start_ms - CHUNK_SPAN_MS + 1


DecodedRow = tuple[int, int, np.ndarray, np.ndarray]  # row ts_ms, layout_id, times, values


def decode_overlapping(
    rows: Iterable[tuple[int, int, bytes]], start_ms: int, end_ms: int
) -> list[DecodedRow]:
    """The rows of (ts_ms, layout_id, vals) that hold a snapshot in [start, end], decoded; the
    others are told from their times alone, without decompressing them (a reader's lookback
    reads rows that started up to CHUNK_SPAN_MS before its range)."""
    out = []
    for row_ts, layout_id, blob in rows:
        times, _ = chunk_times(row_ts, blob)
        if times[-1] >= start_ms and row_ts <= end_ms:
            ts, values = decode_rows(row_ts, blob)
            out.append((row_ts, layout_id, ts, values))
    return out


def frames_of(
    decoded: Iterable[DecodedRow], start_ms: int, end_ms: int
) -> list[tuple[int, int, array[float]]]:
    """(ts_ms, layout_id, values) of every snapshot in [start, end] of decoded rows, in time
    order. A snapshot stored twice (a resend grouped differently from the first send) is
    returned once."""
    found: dict[tuple[int, int], np.ndarray] = {}
    for _, layout_id, times, values in decoded:
        for ts, row in zip(times.tolist(), values, strict=True):
            if start_ms <= ts <= end_ms:
                found.setdefault((ts, layout_id), row)
    out = []
    for (ts, layout_id), row in sorted(found.items(), key=lambda item: item[0]):
        frame = array("d")
        frame.frombytes(row.tobytes())
        out.append((ts, layout_id, frame))
    return out


def frames_in_range(
    rows: Iterable[tuple[int, int, bytes]], start_ms: int, end_ms: int
) -> list[tuple[int, int, array[float]]]:
    """frames_of the rows of (ts_ms, layout_id, vals) that hold a snapshot in [start, end]."""
    return frames_of(decode_overlapping(rows, start_ms, end_ms), start_ms, end_ms)


def split_chunks(timestamps: Sequence[int]) -> list[tuple[int, int]]:
    """[start, stop) index ranges of sorted, distinct timestamps, one per chunk: at most
    CHUNK_MAX_FRAMES, within CHUNK_SPAN_MS of the first, within one UTC day."""
    out: list[tuple[int, int]] = []
    start = 0
    for i, ts in enumerate(timestamps):
        first = timestamps[start]
        if i > start and (
            i - start >= CHUNK_MAX_FRAMES
            or ts - first >= CHUNK_SPAN_MS
            or ts // DAY_MS != first // DAY_MS
        ):
            out.append((start, i))
            start = i
    if timestamps:
        out.append((start, len(timestamps)))
    return out
