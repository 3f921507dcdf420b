"""Idempotent writes of digested agent batches.

One call writes many batches in one transaction (SQLite: one writer, batched transactions).
A batch already recorded in ingested_batches is skipped whole; frames are also keyed by
(host, timestamp, layout), so a replayed or re-sent sample is stored once either way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from fleetscope.store.engine import now_ms
from fleetscope.store.frames import layout_digest, layout_json, pack_values
from fleetscope.store.tables import hosts, ingested_batches, metric_frames, metric_layouts


@dataclass(frozen=True, slots=True)
class FrameRow:
    ts_ms: int
    series: tuple[str, ...]
    values: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class BatchRows:
    """Everything one agent batch becomes, before host and layout ids are known."""

    tenant_id: int
    machine_id: str
    hostname: str
    agent_version: str
    batch_id: str
    frames: tuple[FrameRow, ...]


@dataclass(frozen=True, slots=True)
class WriteResult:
    batches_written: int
    batches_skipped: int
    frames_written: int


def _insert(conn: Connection, table: Any) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


class StoreWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Layouts rarely change; remembering their ids saves a lookup per frame.
        self._layout_ids: dict[tuple[int, str], int] = {}

    def write_batches(self, batches: Sequence[BatchRows]) -> WriteResult:
        try:
            return self._write(batches)
        except BaseException:
            # Layout ids learnt inside a rolled-back transaction may not exist.
            self._layout_ids.clear()
            raise

    def _write(self, batches: Sequence[BatchRows]) -> WriteResult:
        written = skipped = frames_written = 0
        with self.engine.begin() as conn:
            for batch in batches:
                host_id = self._upsert_host(conn, batch)
                is_new = conn.execute(
                    _insert(conn, ingested_batches)
                    .values(
                        host_id=host_id,
                        batch_id=batch.batch_id,
                        tenant_id=batch.tenant_id,
                        received_ms=now_ms(),
                        snapshots=len(batch.frames),
                    )
                    .on_conflict_do_nothing()
                ).rowcount
                if not is_new:
                    skipped += 1
                    continue
                written += 1
                rows = [
                    {
                        "host_id": host_id,
                        "ts_ms": frame.ts_ms,
                        "layout_id": self._layout_id(conn, batch.tenant_id, frame.series),
                        "tenant_id": batch.tenant_id,
                        "vals": pack_values(frame.values),
                    }
                    for frame in batch.frames
                ]
                if rows:
                    result = conn.execute(
                        _insert(conn, metric_frames).on_conflict_do_nothing(), rows
                    )
                    frames_written += max(result.rowcount, 0)
        return WriteResult(written, skipped, frames_written)

    def _upsert_host(self, conn: Connection, batch: BatchRows) -> int:
        seen = max((f.ts_ms for f in batch.frames), default=now_ms())
        stmt = _insert(conn, hosts).values(
            tenant_id=batch.tenant_id,
            machine_id=batch.machine_id,
            name=batch.hostname,
            agent_version=batch.agent_version,
            first_seen_ms=seen,
            last_seen_ms=seen,
        )
        # A replayed old batch must not move last_seen backwards or rename the host.
        newer = stmt.excluded.last_seen_ms > hosts.c.last_seen_ms
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "machine_id"],
            set_={
                "last_seen_ms": _greatest(conn, hosts.c.last_seen_ms, stmt.excluded.last_seen_ms),
                "name": _case(newer, stmt.excluded.name, hosts.c.name),
                "agent_version": _case(newer, stmt.excluded.agent_version, hosts.c.agent_version),
            },
        ).returning(hosts.c.id)
        return int(conn.execute(stmt).scalar_one())

    def _layout_id(self, conn: Connection, tenant_id: int, series: tuple[str, ...]) -> int:
        digest = layout_digest(series)
        cached = self._layout_ids.get((tenant_id, digest))
        if cached is not None:
            return cached
        conn.execute(
            _insert(conn, metric_layouts)
            .values(tenant_id=tenant_id, digest=digest, series=layout_json(series))
            .on_conflict_do_nothing()
        )
        layout_id = conn.execute(
            select(metric_layouts.c.id).where(
                metric_layouts.c.tenant_id == tenant_id, metric_layouts.c.digest == digest
            )
        ).scalar_one()
        self._layout_ids[(tenant_id, digest)] = layout_id
        return int(layout_id)


def _greatest(conn: Connection, a: Any, b: Any) -> Any:
    # SQLite's two-argument max() is its GREATEST.
    return func.max(a, b) if conn.dialect.name == "sqlite" else func.greatest(a, b)


def _case(condition: Any, then: Any, otherwise: Any) -> Any:
    return case((condition, then), else_=otherwise)


def decode_layout(series_json: str) -> list[str]:
    keys = json.loads(series_json)
    if not isinstance(keys, list):
        raise ValueError("metric layout is not a JSON list")
    return [str(k) for k in keys]
