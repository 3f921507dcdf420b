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

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection

from fleetscope.store.chunk_writes import chunk_cap, encode_capped
from fleetscope.store.chunks import split_chunks
from fleetscope.store.sql import sql
from fleetscope.store.stretch import LayoutStretch


@dataclass(frozen=True, slots=True)
class Compacted:
    rows_before: int
    rows_after: int


def compact(
    conn: Connection,
    tenant_id: int,
    host_id: int,
    stretches: Mapping[int, LayoutStretch],
    *,
    start_ms: int,
    end_ms: int,
) -> Compacted:
    """Rewrite the rows of one host that start in [start, end), given the stretch decoded
    by layout (stretch.decode_stretch over [start, end - 1]: every row that starts in it is
    among its rows)."""
    before = after = 0
    cap: int | None = None
    for layout_id, stretch in sorted(stretches.items()):
        if not stretch.starts:
            continue
        if stretch.own is None:
            continue  # a row that reaches past the stretch: see the module doc
        ordered = stretch.own.times.tolist()
        matrix = stretch.own.values
        if not ordered or ordered[0] < start_ms or ordered[-1] >= end_ms:
            raise ValueError("compact: the stretch was decoded over another range")
        cap = chunk_cap(conn) if cap is None else cap
        chunks = [
            (ordered[a + first], blob)
            for a, b in split_chunks(ordered)
            for first, blob in encode_capped(ordered[a:b], matrix[a:b], cap)
        ]
        if len(chunks) >= len(stretch.starts):
            continue
        conn.exec_driver_sql(
            _delete_rows_sql(conn, len(stretch.starts)), (host_id, layout_id, *stretch.starts)
        )
        conn.exec_driver_sql(
            sql(conn, _INSERT_ROW),
            [(host_id, first_ts, layout_id, tenant_id, blob) for first_ts, blob in chunks],
        )
        before += len(stretch.starts)
        after += len(chunks)
    return Compacted(before, after)


# Plain SQL (store/sql.py): run for every minute the step compacts.
_INSERT_ROW = (
    "INSERT INTO metric_frames (host_id, ts_ms, layout_id, tenant_id, vals) VALUES (?, ?, ?, ?, ?)"
)


@functools.cache
def _delete_rows_statement(rows: int) -> str:
    marks = ", ".join(["?"] * rows)
    return (
        "DELETE FROM metric_frames WHERE host_id = ? AND layout_id = ?"  # noqa: S608
        f" AND ts_ms IN ({marks})"
    )


def _delete_rows_sql(conn: Connection, rows: int) -> str:
    return sql(conn, _delete_rows_statement(rows))
