"""The writer's frames as chunk rows (store/chunks.py), inserted so that each snapshot is
stored once.

A write call's snapshots of one (host, layout) become chunks: sorted by time, a snapshot
repeated at one time kept once (the first, as a row insert would), split by
`split_chunks`. Each chunk is a row keyed by its first snapshot's time, inserted with ON
CONFLICT DO NOTHING. A chunk that meets a stored row with its key is a resend whose snapshots
may be grouped differently from the stored ones (a client that resends a grown buffer, say):
the snapshots stored in that stretch of time are read, those already there dropped, and the
rest inserted as new chunks, until none is left. A resend that is not keyed by a stored time
is stored again and read once (`chunks.frames_in_range` drops the repeat).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, select

from fleetscope.store.chunks import (
    decode_rows,
    encode_chunk,
    lookback,
    max_chunk_bytes,
    split_chunks,
)
from fleetscope.store.frames import encode_frame
from fleetscope.store.sql import FrameTuple, insert_frames
from fleetscope.store.tables import metric_frames


@dataclass(frozen=True, slots=True)
class PendingFrame:
    host_id: int
    layout_id: int
    tenant_id: int
    ts_ms: int
    values: Sequence[float | None]


_Group = tuple[int, int, int]  # host, layout, tenant


def _chunks(
    groups: dict[_Group, dict[int, Sequence[float | None]]], cap: int
) -> list[tuple[FrameTuple, int]]:
    """(row, snapshots in it) of every chunk of the groups."""
    out = []
    for (host_id, layout_id, tenant_id), by_ts in sorted(groups.items()):
        times = sorted(by_ts)
        for start, stop in split_chunks(times):
            part = times[start:stop]
            if len(part) == 1:
                # One snapshot (an agent's usual upload) as a plain frame: several times
                # cheaper to encode; the rollup step compacts such rows (store/compaction.py).
                out.append(
                    ((host_id, part[0], layout_id, tenant_id, encode_frame(by_ts[part[0]])), 1)
                )
                continue
            pieces = encode_capped(part, [by_ts[ts] for ts in part], cap)
            ends = [first for first, _ in pieces[1:]] + [len(part)]
            out.extend(
                ((host_id, part[first], layout_id, tenant_id, blob), end - first)
                for (first, blob), end in zip(pieces, ends, strict=True)
            )
    return out


def insert_chunks(conn: Connection, frames: Sequence[PendingFrame]) -> int:
    """Store the frames as chunks; returns how many snapshots were new."""
    groups: dict[_Group, dict[int, Sequence[float | None]]] = defaultdict(dict)
    for f in frames:
        groups[(f.host_id, f.layout_id, f.tenant_id)].setdefault(f.ts_ms, f.values)
    written = 0
    while groups:
        rows = _chunks(groups, chunk_cap(conn))
        new = insert_frames(conn, [row for row, _ in rows])
        written += sum(count for row, count in rows if row[:3] in new)
        # The groups of chunks that met a stored key, less what is stored around them.
        retry: dict[_Group, dict[int, Sequence[float | None]]] = {}
        for row, _ in rows:
            host_id, first, layout_id, tenant_id, _blob = row
            if (host_id, first, layout_id) in new:
                continue
            group = (host_id, layout_id, tenant_id)
            left = retry.setdefault(group, dict(groups[group]))
            for ts in _stored_times(
                conn, host_id, layout_id, min(left, default=first), max(left, default=first)
            ):
                left.pop(ts, None)
        groups = {group: left for group, left in retry.items() if left}
    return written


def encode_capped(
    timestamps: Sequence[int], frames: Sequence[Sequence[float | None]] | np.ndarray, cap: int
) -> list[tuple[int, bytes]]:
    """The snapshots as (index of the first, blob) chunks of at most `cap` bytes each (a
    single snapshot may take more), as few as fit (give or take one: the pieces are equal).

    A chunk's size is about a fixed part (the header, each series' first value) plus a part
    per snapshot. Two encodings, the whole and a first piece of a proportional share, give
    both parts; the rest is cut into equal pieces of as many snapshots as that says fit, and
    only a piece that still comes out over the cap (compression is not linear) is cut again.
    Cutting every piece in halves until it fits, as this did before, encoded each snapshot
    several times and left many small chunks at the ends of the halves."""
    matrix = np.array(frames, dtype=np.float64).reshape(len(frames), -1)
    blob = encode_chunk(timestamps, matrix)
    return _capped(timestamps, matrix, cap, blob)


def _capped(
    timestamps: Sequence[int], matrix: np.ndarray, cap: int, blob: bytes
) -> list[tuple[int, bytes]]:
    n, size = len(timestamps), len(blob)
    if size <= cap or n == 1:
        return [(0, blob)]
    probe_n = max(1, min(n - 1, n * cap // size))
    probe = encode_chunk(timestamps[:probe_n], matrix[:probe_n])
    per_snapshot = max((size - len(probe)) / (n - probe_n), 1.0)
    fixed = len(probe) - probe_n * per_snapshot
    fit = max(1, min(n - 1, int((cap - fixed) // per_snapshot)))
    out: list[tuple[int, bytes]] = []
    start = 0
    # The probe is kept as the first chunk when it fits and the rest needs no more chunks
    # than the whole would.
    if len(probe) <= cap and 1 + -(-(n - probe_n) // fit) <= -(-n // fit):
        out.append((0, probe))
        start = probe_n
    rest = n - start
    pieces = -(-rest // fit)
    bounds = [start + rest * k // pieces for k in range(pieces + 1)]
    for a, b in itertools.pairwise(bounds):
        piece = probe if (a, b) == (0, probe_n) else encode_chunk(timestamps[a:b], matrix[a:b])
        out.extend(
            (a + first, part) for first, part in _capped(timestamps[a:b], matrix[a:b], cap, piece)
        )
    return out


def chunk_cap(conn: Connection) -> int:
    """The largest chunk blob for this database (store/chunks.py, max_chunk_bytes)."""
    if conn.dialect.name != "sqlite":
        return max_chunk_bytes(conn.dialect.name, 0)
    # Kept with the DB-API connection (conn.info lives as long as it): the rollup step asks
    # for every minute it compacts. A page size changes only by VACUUM, and a cap from the
    # old size then costs overflow pages or smaller chunks, not data.
    cap = conn.info.get(_CAP_KEY)
    if cap is None:
        page_size = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
        cap = conn.info[_CAP_KEY] = max_chunk_bytes("sqlite", page_size)
    return int(cap)


_CAP_KEY = "fleetscope.chunk_cap"


def _stored_times(conn: Connection, host_id: int, layout_id: int, start: int, end: int) -> set[int]:
    f = metric_frames.c
    rows = conn.execute(
        select(f.ts_ms, f.vals).where(
            f.host_id == host_id,
            f.layout_id == layout_id,
            f.ts_ms >= lookback(start),
            f.ts_ms <= end,
        )
    ).all()
    return {int(ts) for row_ts, blob in rows for ts in decode_rows(row_ts, blob)[0].tolist()}
