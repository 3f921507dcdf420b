"""Raw rows of a settled stretch of a host rewritten as few chunks (store/chunks.py).

An agent uploads each snapshot as it is taken, so the writer mostly stores rows of one
snapshot: the writer cannot chunk what it has not received. The 1-minute rollup step has just
read and decoded a host's rows of the minutes it recomputes; in the same transaction it hands
them here, and the rows that start in those minutes are replaced by chunks of the same
snapshots (each kept once). This is Prometheus' head block being cut into compressed chunks,
done where the data is read anyway.

Only a layout's rows that all end inside the stretch are rewritten: then every new chunk's key
is a snapshot time inside the stretch, and no other row of that layout starts there, so the
inserts cannot meet a stored key. A stretch whose rows are already as few as its chunks would
be is left alone, so a minute recomputed again (late data) rewrites only when that gains rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, delete, insert

from fleetscope.store.chunk_writes import chunk_cap
from fleetscope.store.chunks import DecodedRow, encode_capped, split_chunks
from fleetscope.store.tables import metric_frames


@dataclass(frozen=True, slots=True)
class Compacted:
    rows_before: int
    rows_after: int


def compact(
    conn: Connection,
    tenant_id: int,
    host_id: int,
    rows: Sequence[DecodedRow],
    *,
    start_ms: int,
    end_ms: int,
) -> Compacted:
    """Rewrite the rows of one host that start in [start, end), given decoded
    (chunks.decode_overlapping: every row that starts in the stretch is among them)."""
    groups: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = defaultdict(list)
    for row_ts, layout_id, times, values in rows:
        if start_ms <= row_ts < end_ms:
            groups[layout_id].append((row_ts, times, values))
    before = after = 0
    for layout_id, members in sorted(groups.items()):
        if any(int(times[-1]) >= end_ms for _, times, _ in members):
            continue  # a row that reaches past the stretch: see the module doc
        snapshots: dict[int, np.ndarray] = {}
        for _, times, values in members:
            for ts, row in zip(times.tolist(), values, strict=True):
                snapshots.setdefault(ts, row)
        ordered = sorted(snapshots)
        cap = chunk_cap(conn)
        chunks = [
            (ordered[a + first], blob)
            for a, b in split_chunks(ordered)
            for first, blob in encode_capped(
                ordered[a:b], np.vstack([snapshots[t] for t in ordered[a:b]]), cap
            )
        ]
        if len(chunks) >= len(members):
            continue
        conn.execute(
            delete(metric_frames).where(
                metric_frames.c.host_id == host_id,
                metric_frames.c.layout_id == layout_id,
                metric_frames.c.ts_ms.in_([row_ts for row_ts, _, _ in members]),
            )
        )
        conn.execute(
            insert(metric_frames),
            [
                {
                    "host_id": host_id,
                    "ts_ms": first_ts,
                    "layout_id": layout_id,
                    "tenant_id": tenant_id,
                    "vals": blob,
                }
                for first_ts, blob in chunks
            ],
        )
        before += len(members)
        after += len(chunks)
    return Compacted(before, after)
