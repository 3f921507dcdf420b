"""A host's stretch of raw rows decoded by layout, for the rollup step (store/rollups.py) and
its compaction (store/compaction.py): each layout's snapshots as one matrix. store/chunks.py's
decode_overlapping and frames_of give the same snapshots as a pair of arrays per row and a
float array per snapshot, which suits a reader of a few series; the step reads whole minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from fleetscope.store.chunks import CHUNK_FORMAT, chunk_times, decode_rows
from fleetscope.store.frames import decompress_frame

_CHUNK_BYTE = bytes((CHUNK_FORMAT,))


@dataclass(frozen=True, slots=True)
class Snapshots:
    """Distinct snapshots of one layout in time order."""

    times: np.ndarray  # int64
    values: np.ndarray  # float64 [snapshot, series], C-contiguous (reductions run row by row)


@dataclass(frozen=True, slots=True)
class LayoutStretch:
    """One layout's rows of a host's stretch [start, end], decoded (decode_stretch)."""

    in_range: Snapshots  # its snapshots in [start, end]; one stored twice: the first row's
    starts: list[int]  # ts_ms of its rows that start in [start, end]
    own: Snapshots | None  # those rows' snapshots alone; None if one reaches past end


_Part = tuple[int, bytes, list[int] | None]  # row ts_ms, blob, a chunk's times (None: a frame)


def decode_stretch(
    rows: Iterable[tuple[int, int, bytes]], start_ms: int, end_ms: int
) -> dict[int, LayoutStretch]:
    """decode_overlapping and frames_of at once, by layout, with numpy: the rows of
    (ts_ms, layout_id, vals), in time order, that hold a snapshot in [start, end].

    The rollup step reads a host's minute this way: mostly single-snapshot frames, whose
    values are decompressed and joined into one matrix per layout, instead of a pair of
    arrays per row and a float array per snapshot (docs/deployment.md, "Issue 17, round 3")."""
    by_layout: dict[int, list[_Part]] = {}
    for row_ts, layout_id, blob in rows:
        if blob[:1] == _CHUNK_BYTE:
            times, _ = chunk_times(row_ts, blob)
            if times[-1] < start_ms or row_ts > end_ms:
                continue  # a row of the lookback that ends before the range
            by_layout.setdefault(layout_id, []).append((row_ts, blob, times))
        elif start_ms <= row_ts <= end_ms:
            by_layout.setdefault(layout_id, []).append((row_ts, blob, None))
    return {layout_id: _stretch(parts, start_ms, end_ms) for layout_id, parts in by_layout.items()}


def _stretch(parts: list[_Part], start_ms: int, end_ms: int) -> LayoutStretch:
    own = [part for part in parts if part[0] >= start_ms]
    starts = [part[0] for part in own]
    in_range = _snapshots(parts, start_ms, end_ms)
    if any(times is not None and times[-1] > end_ms for _, _, times in own):
        return LayoutStretch(in_range, starts, None)
    # The rows that start in the range end in it too: their snapshots are all in range, and
    # are in_range's when no row of the lookback is among the parts.
    whole = in_range if len(own) == len(parts) else _snapshots(own, start_ms, end_ms)
    return LayoutStretch(in_range, starts, whole)


def _snapshots(parts: list[_Part], start_ms: int, end_ms: int) -> Snapshots:
    """The parts' snapshots in [start, end], each time once (its first row's), in order."""
    if not parts:
        return Snapshots(np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float64))
    decompress = decompress_frame
    if all(times is None for _, _, times in parts):
        times = np.array([row_ts for row_ts, _, _ in parts], dtype=np.int64)
        raw = b"".join([decompress(blob) for _, blob, _ in parts])
        values = np.frombuffer(raw, dtype="<f8").reshape(len(parts), len(raw) // 8 // len(parts))
        if len(parts) == 1 or (np.diff(times) > 0).all():
            return Snapshots(times, values.astype(np.float64, copy=False))
    else:
        pieces = [
            decode_rows(row_ts, blob)
            if chunk is not None
            else (
                np.array([row_ts], dtype=np.int64),
                np.frombuffer(decompress(blob), dtype="<f8").reshape(1, -1),
            )
            for row_ts, blob, chunk in parts
        ]
        times = np.concatenate([t for t, _ in pieces])
        values = np.concatenate([v for _, v in pieces])
    order = np.argsort(times, kind="stable")  # equal times keep their rows' order
    ordered = times[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    keep = order[first & (ordered >= start_ms) & (ordered <= end_ms)]
    return Snapshots(times[keep], np.ascontiguousarray(values[keep], dtype=np.float64))
