"""Idempotent writes of digested agent batches.

One call writes many batches in one transaction (SQLite: one writer, batched transactions).
A batch already recorded in ingested_batches is skipped whole; frames are also keyed by
(host, timestamp, layout), so a replayed or re-sent sample is stored once either way.

On PostgreSQL the frames of a call go in by binary COPY into a temporary staging table and
then one INSERT ... SELECT ... ON CONFLICT DO NOTHING (COPY alone cannot skip duplicates).
The writer also keeps the raw tier's partitions: it creates the day partitions its frames need
before writing, and once an hour creates those ahead and drops the expired ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from fleetscope.store.engine import now_ms
from fleetscope.store.frames import encode_frame, layout_digest, layout_json
from fleetscope.store.partitions import FramePartitions, MaintenanceResult
from fleetscope.store.tables import hosts, ingested_batches, metric_frames, metric_layouts

FrameTuple = tuple[int, int, int, int, bytes]  # host_id, ts_ms, layout_id, tenant_id, vals

_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metric_frames_stage (host_id int4 NOT NULL,"
    " ts_ms int8 NOT NULL, layout_id int4 NOT NULL, tenant_id int4 NOT NULL, vals bytea NOT NULL)"
    " ON COMMIT DELETE ROWS"
)
_STAGE_COPY = (
    "COPY metric_frames_stage (host_id, ts_ms, layout_id, tenant_id, vals)"
    " FROM STDIN (FORMAT BINARY)"
)
# Sorted by host first, so a call's frames of one host share heap pages, which is what a
# host's range query reads.
_STAGE_MERGE = (
    "INSERT INTO metric_frames (host_id, ts_ms, layout_id, tenant_id, vals)"
    " SELECT host_id, ts_ms, layout_id, tenant_id, vals FROM metric_frames_stage"
    " ORDER BY host_id, ts_ms ON CONFLICT DO NOTHING"
)


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
    # Aligned with the batches written: the host id of each, or None for a batch digested
    # before (skipped). Lets the caller tell the live feed which hosts have new points.
    host_ids: tuple[int | None, ...] = ()


def _insert(conn: Connection, table: Any) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


class StoreWriter:
    def __init__(
        self,
        engine: Engine,
        raw_retention_days: int | None = None,
        partition_days_ahead: int = 2,
        maintenance_interval_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """raw_retention_days: frames older than this are dropped (None keeps them all).
        partition_days_ahead: PostgreSQL partitions made ahead of today, so that midnight
        does not wait on DDL."""
        self.engine = engine
        self.raw_retention_days = raw_retention_days
        self.partition_days_ahead = partition_days_ahead
        self.maintenance_interval_seconds = maintenance_interval_seconds
        self._clock = clock
        self._partitions = FramePartitions(engine)
        self._maintained_at: float | None = None
        # Layouts rarely change; remembering their ids saves a lookup per frame.
        self._layout_ids: dict[tuple[int, str], int] = {}

    def maintain(self) -> MaintenanceResult:
        """Create partitions ahead and drop (SQLite: delete) expired raw frames. Runs from
        write_batches once per maintenance interval; call it at start as well."""
        result = self._partitions.maintain(
            int(self._clock() * 1000), self.partition_days_ahead, self.raw_retention_days
        )
        self._maintained_at = self._clock()
        return result

    def write_batches(self, batches: Sequence[BatchRows]) -> WriteResult:
        try:
            if (
                self._maintained_at is None
                or self._clock() - self._maintained_at >= self.maintenance_interval_seconds
            ):
                self.maintain()
            return self._write(batches)
        except BaseException:
            # Layout ids learnt inside a rolled-back transaction may not exist, and a partition
            # this writer knew may have been dropped by another one's retention.
            self._layout_ids.clear()
            self._partitions.forget()
            raise

    def _write(self, batches: Sequence[BatchRows]) -> WriteResult:
        written = skipped = 0
        host_ids: list[int | None] = []
        # Before the write transaction: creating a partition locks metric_frames, which must
        # not be held for as long as a COPY.
        self._partitions.ensure(frame.ts_ms for batch in batches for frame in batch.frames)
        rows: list[FrameTuple] = []
        with self.engine.begin() as conn:
            for batch in batches:
                host_id = self._upsert_host(conn, batch)
                recorded = conn.execute(
                    _insert(conn, ingested_batches)
                    .values(
                        host_id=host_id,
                        batch_id=batch.batch_id,
                        tenant_id=batch.tenant_id,
                        received_ms=now_ms(),
                        snapshots=len(batch.frames),
                    )
                    .on_conflict_do_nothing()
                    .returning(ingested_batches.c.batch_id)
                ).first()
                if recorded is None:  # this batch was digested before
                    skipped += 1
                    host_ids.append(None)
                    continue
                written += 1
                host_ids.append(host_id)
                rows.extend(
                    (
                        host_id,
                        frame.ts_ms,
                        self._layout_id(conn, batch.tenant_id, frame.series),
                        batch.tenant_id,
                        encode_frame(frame.values),
                    )
                    for frame in batch.frames
                )
            frames_written = self._insert_frames(conn, rows) if rows else 0
        return WriteResult(written, skipped, frames_written, tuple(host_ids))

    @staticmethod
    def _insert_frames(conn: Connection, rows: list[FrameTuple]) -> int:
        """Insert frames, skipping those already stored; returns how many were new."""
        if conn.dialect.name != "postgresql":
            keys = ("host_id", "ts_ms", "layout_id", "tenant_id", "vals")
            result = conn.execute(
                _insert(conn, metric_frames).on_conflict_do_nothing(),
                [dict(zip(keys, row, strict=True)) for row in rows],
            )
            return max(result.rowcount, 0)
        driver = conn.connection.driver_connection  # psycopg.Connection, in this transaction
        if not isinstance(driver, psycopg.Connection):
            raise TypeError(f"COPY needs a psycopg 3 connection, not {type(driver).__name__}")
        try:
            with driver.cursor() as cursor:
                cursor.execute(_STAGE_DDL)
                with cursor.copy(_STAGE_COPY) as copy:
                    copy.set_types(["int4", "int8", "int4", "int4", "bytea"])
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(_STAGE_MERGE)
                # One staging per transaction: ON COMMIT DELETE ROWS empties it at commit.
                return max(int(cursor.rowcount), 0)
        except psycopg.Error as exc:
            # Past SQLAlchemy here, so do what it would: a dead connection leaves the pool,
            # and the error becomes the SQLAlchemyError that callers (digest) retry on.
            if driver.broken or driver.closed:
                conn.invalidate(exc)
            raise DBAPIError.instance(_STAGE_MERGE, None, exc, psycopg.Error) from exc

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
