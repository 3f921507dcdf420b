"""Snapshots stored in metric_frames, counted through the rows that hold them (a row holds
one or several: store/chunks.py), for tests that check what was stored."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, select

from fleetscope.store.chunks import chunk_times
from fleetscope.store.tables import metric_frames

SNAPSHOT_ROWS_SQL = "SELECT host_id, ts_ms, layout_id, vals FROM metric_frames"


def snapshot_keys(rows: Iterable[Any]) -> list[tuple[int, int, int]]:
    """(host_id, ts_ms, layout_id) of every snapshot held by rows of (host_id, ts_ms,
    layout_id, vals), a snapshot stored twice listed twice, sorted."""
    return sorted(
        (int(host), t, int(layout))
        for host, ts_ms, layout, blob in rows
        for t in chunk_times(int(ts_ms), bytes(blob))[0]
    )


def stored_snapshots(db: Engine | Connection) -> list[tuple[int, int, int]]:
    f = metric_frames.c
    query = select(f.host_id, f.ts_ms, f.layout_id, f.vals)
    if isinstance(db, Engine):
        with db.connect() as conn:
            return snapshot_keys(conn.execute(query))
    return snapshot_keys(db.execute(query))


def count_snapshots(db: Engine | Connection) -> int:
    return len(stored_snapshots(db))
