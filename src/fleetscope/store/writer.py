"""Idempotent writes of digested agent batches.

One call writes many batches in one transaction (SQLite: one writer, batched transactions).
A batch already recorded in ingested_batches is skipped whole; frames are also keyed by
(host, timestamp, layout), so a replayed or re-sent sample is stored once either way.

On PostgreSQL the frames of a call go in by binary COPY into a temporary staging table and
then one INSERT ... SELECT ... ON CONFLICT DO NOTHING (COPY alone cannot skip duplicates).
The writer also keeps the raw tier's partitions: it creates the day partitions its frames need
before writing, and once an hour creates those ahead and drops the expired ones. In the same
transaction as the frames it marks the minutes they touch for the rollup step
(store/rollups.py), which it runs every rollup interval and before any retention, so a bucket
is rolled up before its raw frames may be dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from fleetscope.store.engine import now_ms
from fleetscope.store.frames import encode_frame, layout_digest, layout_json
from fleetscope.store.inventory import upsert_inventory
from fleetscope.store.partitions import FramePartitions, MaintenanceResult
from fleetscope.store.rollups import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    TIER_1H,
    TIER_1M,
    RollupResult,
    Rollups,
    delete_rollups_before,
    earliest_dirty,
    mark_dirty,
)
from fleetscope.store.tables import (
    collections,
    hosts,
    ingested_batches,
    metric_frames,
    metric_layouts,
    process_groups,
)

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
class ProcessGroupRow:
    ts_ms: int
    group_name: str
    num_procs: int
    cpu_seconds_total: float  # user + system
    memory_bytes: float  # resident
    read_bytes_total: float
    write_bytes_total: float


@dataclass(frozen=True, slots=True)
class InventoryRow:
    ts_ms: int
    content_sha256: str
    audit_json: str


@dataclass(frozen=True, slots=True)
class CollectionRow:
    content_sha256: str
    first_ts_ms: int
    last_ts_ms: int
    bytes: int
    snapshots: int
    uploaded_by: str
    received_ms: int


@dataclass(frozen=True, slots=True)
class BatchRows:
    """Everything one message (or one device of it) becomes, before host and layout ids are
    known.

    batch_id: the agent's batch id, recorded in ingested_batches so a replay is skipped whole;
    None for requests without one (aggregator, pushed exposition), whose rows are all keyed so
    that a replay stores nothing twice anyway.
    attach_by_name: a device named by a third party joins the tenant's host of that name when
    there is one (the most recently seen), else becomes the host `machine_id`.
    collection: recorded once per (tenant, content) even when its batches were all seen."""

    tenant_id: int
    machine_id: str
    hostname: str
    agent_version: str | None
    batch_id: str | None
    frames: tuple[FrameRow, ...]
    process_groups: tuple[ProcessGroupRow, ...] = ()
    inventory: tuple[InventoryRow, ...] = ()
    collection: CollectionRow | None = None
    attach_by_name: bool = False


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
        *,
        rollup_1m_retention_days: int | None = None,
        rollup_1h_retention_days: int | None = None,
        rollup_interval_seconds: float = 10.0,
    ) -> None:
        """raw_retention_days: frames older than this are dropped (None keeps them all);
        the same for the rollup tiers. partition_days_ahead: PostgreSQL partitions made ahead
        of today, so that midnight does not wait on DDL."""
        self.engine = engine
        self.raw_retention_days = raw_retention_days
        self.rollup_1m_retention_days = rollup_1m_retention_days
        self.rollup_1h_retention_days = rollup_1h_retention_days
        self.rollup_interval_seconds = rollup_interval_seconds
        self.rollups = Rollups(engine, raw_retention_days, rollup_1m_retention_days, clock=clock)
        self._rolled_up_at: float | None = None
        self.partition_days_ahead = partition_days_ahead
        self.maintenance_interval_seconds = maintenance_interval_seconds
        self._clock = clock
        self._partitions = FramePartitions(engine)
        self._maintained_at: float | None = None
        # Layouts rarely change; remembering their ids saves a lookup per frame.
        self._layout_ids: dict[tuple[int, str], int] = {}

    def maintain(self) -> MaintenanceResult:
        """Create partitions ahead and drop (SQLite: delete) expired raw frames and rollups.
        Runs from write_batches once per maintenance interval; call it at start as well.

        Each tier is rolled up into the next before it expires, and nothing is dropped from
        the earliest bucket still marked dirty on (another worker may hold it)."""
        now = int(self._clock() * 1000)
        if self.raw_retention_days is not None:
            self.rollups.run(before_ms=now - self.raw_retention_days * DAY_MS)
        result = self._partitions.maintain(
            now,
            self.partition_days_ahead,
            self.raw_retention_days,
            keep_from=lambda conn: earliest_dirty(conn, MINUTE_MS),
        )
        deleted = 0
        tiers = (
            (TIER_1M, self.rollup_1m_retention_days, HOUR_MS),
            (TIER_1H, self.rollup_1h_retention_days, None),
        )
        for tier, days, parent_step in tiers:
            if days is None:
                continue
            cutoff = now - days * DAY_MS
            if parent_step is not None:
                self.rollups.run(before_ms=cutoff + parent_step)
            with self.engine.begin() as conn:
                keep = None if parent_step is None else earliest_dirty(conn, parent_step)
                deleted += delete_rollups_before(
                    conn, tier.table, cutoff if keep is None else min(cutoff, keep)
                )
        self._maintained_at = self._clock()
        return MaintenanceResult(
            result.created, result.dropped, result.frames_deleted, rollup_rows_deleted=deleted
        )

    def roll_up(self, force: bool = False) -> RollupResult | None:
        """Recompute the settled dirty buckets, at most once per rollup interval unless
        forced; None when it was not yet due."""
        if (
            not force
            and self._rolled_up_at is not None
            and self._clock() - self._rolled_up_at < self.rollup_interval_seconds
        ):
            return None
        try:
            return self.rollups.run()
        finally:
            self._rolled_up_at = self._clock()

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
        touched: set[tuple[int, int, int]] = set()  # tenant, host, minute
        with self.engine.begin() as conn:
            for batch in batches:
                host_id = self._upsert_host(conn, batch)
                if batch.collection is not None:
                    self._record_collection(conn, batch.tenant_id, host_id, batch.collection)
                if batch.batch_id is None:  # aggregator and pushed samples: frame keys dedupe
                    written += 1
                    host_ids.append(host_id)
                    rows.extend(self._frame_tuples(conn, batch, host_id))
                    touched.update(_minutes_touched(batch, host_id))
                    continue
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
                rows.extend(self._frame_tuples(conn, batch, host_id))
                self._write_process_groups(conn, batch, host_id)
                for audit in sorted(batch.inventory, key=lambda a: a.ts_ms):
                    upsert_inventory(
                        conn,
                        batch.tenant_id,
                        host_id,
                        ts_ms=audit.ts_ms,
                        sha256=audit.content_sha256,
                        audit_json=audit.audit_json,
                    )
                touched.update(_minutes_touched(batch, host_id))
            frames_written = self._insert_frames(conn, rows) if rows else 0
            mark_dirty(conn, MINUTE_MS, touched)
        return WriteResult(written, skipped, frames_written, tuple(host_ids))

    def _frame_tuples(self, conn: Connection, batch: BatchRows, host_id: int) -> list[FrameTuple]:
        return [
            (
                host_id,
                frame.ts_ms,
                self._layout_id(conn, batch.tenant_id, frame.series),
                batch.tenant_id,
                encode_frame(frame.values),
            )
            for frame in batch.frames
        ]

    @staticmethod
    def _write_process_groups(conn: Connection, batch: BatchRows, host_id: int) -> None:
        if not batch.process_groups:
            return
        conn.execute(
            _insert(conn, process_groups).on_conflict_do_nothing(),
            [
                {
                    "host_id": host_id,
                    "ts_ms": g.ts_ms,
                    "group_name": g.group_name,
                    "tenant_id": batch.tenant_id,
                    "num_procs": g.num_procs,
                    "cpu_seconds_total": g.cpu_seconds_total,
                    "memory_bytes": round(g.memory_bytes),
                    "read_bytes_total": round(g.read_bytes_total),
                    "write_bytes_total": round(g.write_bytes_total),
                }
                for g in batch.process_groups
            ],
        )

    @staticmethod
    def _record_collection(
        conn: Connection, tenant_id: int, host_id: int, c: CollectionRow
    ) -> None:
        conn.execute(
            _insert(conn, collections)
            .values(
                tenant_id=tenant_id,
                host_id=host_id,
                content_sha256=c.content_sha256,
                first_ts_ms=c.first_ts_ms,
                last_ts_ms=c.last_ts_ms,
                bytes=c.bytes,
                snapshots=c.snapshots,
                uploaded_by=c.uploaded_by,
                received_ms=c.received_ms,
            )
            .on_conflict_do_nothing()
        )

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
        if batch.attach_by_name:
            existing = conn.execute(
                select(hosts.c.id)
                .where(hosts.c.tenant_id == batch.tenant_id, hosts.c.name == batch.hostname)
                .order_by(hosts.c.last_seen_ms.desc())
                .limit(1)
            ).scalar()
            if existing is not None:
                conn.execute(
                    update(hosts)
                    .where(hosts.c.id == existing)
                    .values(last_seen_ms=_greatest(conn, hosts.c.last_seen_ms, seen))
                )
                return int(existing)
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


def _minutes_touched(batch: BatchRows, host_id: int) -> set[tuple[int, int, int]]:
    """(tenant, host, minute) of every frame: the 1-minute buckets the rollup must recompute."""
    return {(batch.tenant_id, host_id, f.ts_ms // MINUTE_MS * MINUTE_MS) for f in batch.frames}
