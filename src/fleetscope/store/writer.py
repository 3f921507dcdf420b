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

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from fleetscope.store.engine import now_ms
from fleetscope.store.frames import encode_frame, layout_digest, layout_json
from fleetscope.store.inventory import upsert_inventory
from fleetscope.store.metadata import MetadataRows, upsert_metadata
from fleetscope.store.partitions import (
    FramePartitions,
    MaintenanceResult,
    delete_per_host_before,
)
from fleetscope.store.rollups import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    TIER_1H,
    TIER_1M,
    RollupResult,
    Rollups,
    earliest_dirty,
    mark_dirty,
)
from fleetscope.store.tables import (
    collections,
    hosts,
    metric_layouts,
    process_group_rollups_1h,
    process_groups,
)

FrameTuple = tuple[int, int, int, int, bytes]  # host_id, ts_ms, layout_id, tenant_id, vals
# host_id, ts_ms, group_name, tenant_id, num_procs, cpu_seconds_total, memory_bytes,
# read_bytes_total, write_bytes_total
GroupTuple = tuple[int, int, str, int, int, float, int, int, int]

# The hot statements are plain SQL run with exec_driver_sql: as SQLAlchemy Core they were
# compiled again at every call, and their executemany went through per-row parameter
# processing. Written with "?" (sqlite3's paramstyle); _sql() gives psycopg its "%s". SQLite
# (>= 3.35) and PostgreSQL both take ON CONFLICT and RETURNING as written here.
_ROWS_PER_STATEMENT = 500  # multi-row VALUES: 2,500 parameters, far below both limits
_SQLITE_FRAMES = (
    "INSERT INTO metric_frames (host_id, ts_ms, layout_id, tenant_id, vals)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_SQLITE_GROUPS = (
    "INSERT INTO process_groups (host_id, ts_ms, group_name, tenant_id, num_procs,"
    " cpu_seconds_total, memory_bytes, read_bytes_total, write_bytes_total)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
# Parameters: seen, name, seen, agent_version, seen, host id. SET expressions all read the
# row as it was, so the order of the assignments does not matter.
_TOUCH_HOST = (
    "UPDATE hosts SET name = CASE WHEN ? > last_seen_ms THEN ? ELSE name END,"
    " agent_version = CASE WHEN ? > last_seen_ms THEN ? ELSE agent_version END,"
    " last_seen_ms = {greatest}(last_seen_ms, ?) WHERE id = ?"
)
_SQLITE_TOUCH_HOST = _TOUCH_HOST.format(greatest="max")  # SQLite's two-argument max()
_PG_TOUCH_HOST = _TOUCH_HOST.format(greatest="greatest")


# One row per unknown host; a replayed old batch must not move last_seen backwards or rename
# the host. {values} becomes the rows' placeholders.
_UPSERT_HOSTS = (
    "INSERT INTO hosts (tenant_id, machine_id, name, agent_version, first_seen_ms,"
    " last_seen_ms) VALUES {values} ON CONFLICT (tenant_id, machine_id) DO UPDATE SET"
    " name = CASE WHEN excluded.last_seen_ms > hosts.last_seen_ms THEN excluded.name"
    " ELSE hosts.name END,"
    " agent_version = CASE WHEN excluded.last_seen_ms > hosts.last_seen_ms"
    " THEN excluded.agent_version ELSE hosts.agent_version END,"
    " last_seen_ms = {greatest}(hosts.last_seen_ms, excluded.last_seen_ms)"
    " RETURNING id, tenant_id, machine_id"
)
_SQLITE_UPSERT_HOSTS = _UPSERT_HOSTS.replace("{greatest}", "max")
_PG_UPSERT_HOSTS = _UPSERT_HOSTS.replace("{greatest}", "greatest")


@functools.cache
def _upsert_hosts_sql(statement: str, rows: int) -> str:
    return statement.replace("{values}", ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows))


@functools.cache
def _record_batches_sql(rows: int) -> str:
    placeholders = ", ".join(["(?, ?, ?, ?, ?)"] * rows)  # no value is spliced in
    columns = "host_id, batch_id, tenant_id, received_ms, snapshots"
    return (
        f"INSERT INTO ingested_batches ({columns}) VALUES {placeholders}"  # noqa: S608
        " ON CONFLICT DO NOTHING RETURNING host_id, batch_id"
    )


def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def _sql(conn: Connection, statement: str) -> str:
    return statement if _is_sqlite(conn) else statement.replace("?", "%s")


@dataclass(frozen=True, slots=True)
class _Stage:
    """A PostgreSQL temporary staging table that rows reach by binary COPY, then merged with
    one INSERT ... SELECT ... ON CONFLICT DO NOTHING (COPY alone cannot skip duplicates).
    ON COMMIT DELETE ROWS: one staging per transaction, emptied at commit."""

    ddl: str
    copy: str
    types: tuple[str, ...]
    merge: str


_FRAMES_STAGE = _Stage(
    "CREATE TEMP TABLE IF NOT EXISTS metric_frames_stage (host_id int4 NOT NULL,"
    " ts_ms int8 NOT NULL, layout_id int4 NOT NULL, tenant_id int4 NOT NULL, vals bytea NOT NULL)"
    " ON COMMIT DELETE ROWS",
    "COPY metric_frames_stage (host_id, ts_ms, layout_id, tenant_id, vals)"
    " FROM STDIN (FORMAT BINARY)",
    ("int4", "int8", "int4", "int4", "bytea"),
    # Sorted by host first, so a call's frames of one host share heap pages, which is what a
    # host's range query reads.
    "INSERT INTO metric_frames (host_id, ts_ms, layout_id, tenant_id, vals)"
    " SELECT host_id, ts_ms, layout_id, tenant_id, vals FROM metric_frames_stage"
    " ORDER BY host_id, ts_ms ON CONFLICT DO NOTHING",
)
_GROUP_COLUMNS = (
    "host_id, ts_ms, group_name, tenant_id, num_procs, cpu_seconds_total, memory_bytes,"
    " read_bytes_total, write_bytes_total"
)
_GROUPS_STAGE = _Stage(
    "CREATE TEMP TABLE IF NOT EXISTS process_groups_stage (host_id int4 NOT NULL,"
    " ts_ms int8 NOT NULL, group_name text NOT NULL, tenant_id int4 NOT NULL,"
    " num_procs int4 NOT NULL, cpu_seconds_total float8 NOT NULL, memory_bytes int8 NOT NULL,"
    " read_bytes_total int8 NOT NULL, write_bytes_total int8 NOT NULL) ON COMMIT DELETE ROWS",
    f"COPY process_groups_stage ({_GROUP_COLUMNS}) FROM STDIN (FORMAT BINARY)",
    ("int4", "int8", "text", "int4", "int4", "float8", "int8", "int8", "int8"),
    f"INSERT INTO process_groups ({_GROUP_COLUMNS}) SELECT {_GROUP_COLUMNS}"  # noqa: S608
    " FROM process_groups_stage ORDER BY host_id, ts_ms ON CONFLICT DO NOTHING",
)


def _copy_merge(conn: Connection, stage: _Stage, rows: Sequence[tuple[Any, ...]]) -> int:
    """Rows into their table through the staging (PostgreSQL); returns how many were new."""
    driver = conn.connection.driver_connection  # psycopg.Connection, in this transaction
    if not isinstance(driver, psycopg.Connection):
        raise TypeError(f"COPY needs a psycopg 3 connection, not {type(driver).__name__}")
    try:
        with driver.cursor() as cursor:
            cursor.execute(stage.ddl)
            with cursor.copy(stage.copy) as copy:
                copy.set_types(list(stage.types))
                for row in rows:
                    copy.write_row(row)
            cursor.execute(stage.merge)
            return max(int(cursor.rowcount), 0)
    except psycopg.Error as exc:
        # Past SQLAlchemy here, so do what it would: a dead connection leaves the pool,
        # and the error becomes the SQLAlchemyError that callers (digest) retry on.
        if driver.broken or driver.closed:
            conn.invalidate(exc)
        raise DBAPIError.instance(stage.merge, None, exc, psycopg.Error) from exc


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
        process_rollup_retention_days: int | None = None,
        rollup_interval_seconds: float = 10.0,
        rollup_slice_buckets: int = 100,
    ) -> None:
        """raw_retention_days: frames older than this are dropped (None keeps them all);
        the same for the rollup tiers. partition_days_ahead: PostgreSQL partitions made ahead
        of today, so that midnight does not wait on DDL."""
        self.engine = engine
        self.raw_retention_days = raw_retention_days
        self.rollup_1m_retention_days = rollup_1m_retention_days
        self.rollup_1h_retention_days = rollup_1h_retention_days
        # process_group_rollups_1h: its own age limit, by default that of the 1h tier.
        self.process_rollup_retention_days = (
            rollup_1h_retention_days
            if process_rollup_retention_days is None
            else process_rollup_retention_days
        )
        self.rollup_interval_seconds = rollup_interval_seconds
        self.rollups = Rollups(
            engine,
            raw_retention_days,
            rollup_1m_retention_days,
            batch_buckets=rollup_slice_buckets,
            clock=clock,
        )
        self._rolled_up_at: float | None = None
        self._rollup_backlog = False  # the last slice was full: more is waiting
        self.partition_days_ahead = partition_days_ahead
        self.maintenance_interval_seconds = maintenance_interval_seconds
        self._clock = clock
        self._partitions = FramePartitions(engine)
        self._maintained_at: float | None = None
        # Layouts rarely change; remembering their ids saves a lookup per frame.
        self._layout_ids: dict[tuple[int, str], int] = {}
        # Hosts are never deleted, so an id once known stays right: (tenant, machine id).
        self._host_ids: dict[tuple[int, str], int] = {}

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
        groups_deleted = 0
        if self.raw_retention_days is not None:
            # Process groups are raw data too: they expire with the raw tier.
            with self.engine.begin() as conn:
                groups_deleted = delete_per_host_before(
                    conn, process_groups, now - self.raw_retention_days * DAY_MS
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
                deleted += delete_per_host_before(
                    conn,
                    tier.table,
                    cutoff if keep is None else min(cutoff, keep),
                    time_column="bucket_ms",
                )
        if self.process_rollup_retention_days is not None:
            cutoff = now - self.process_rollup_retention_days * DAY_MS
            with self.engine.begin() as conn:
                keep = earliest_dirty(conn, HOUR_MS)
                deleted += delete_per_host_before(
                    conn,
                    process_group_rollups_1h,
                    cutoff if keep is None else min(cutoff, keep),
                    time_column="bucket_ms",
                )
        self._maintained_at = self._clock()
        return MaintenanceResult(
            result.created,
            result.dropped,
            result.frames_deleted,
            rollup_rows_deleted=deleted,
            process_groups_deleted=groups_deleted,
        )

    def roll_up(self, force: bool = False) -> RollupResult | None:
        """Recompute settled dirty buckets; None when it was not yet due. Forced: all of them.
        Otherwise one slice (one transaction per tier of at most rollup_slice_buckets), once
        per rollup interval, and at every call while the last slice was full. Digest calls
        this between batches, so a large backlog of buckets (a fleet's spools replaying after
        an outage) is spread over many calls and digest keeps writing meanwhile, instead of
        one run holding it until every bucket is done. At steady state it changes little:
        at 1,000 hosts every 10 s (bench/fleet_simulator.py --embedded), request p99 was
        68-72 ms in slices, 72-83 ms with whole runs, 43 ms with no rollups at all."""
        if force:
            try:
                return self.rollups.run()
            finally:
                self._rolled_up_at = self._clock()
        if (
            not self._rollup_backlog
            and self._rolled_up_at is not None
            and self._clock() - self._rolled_up_at < self.rollup_interval_seconds
        ):
            return None
        try:
            result = self.rollups.run(max_rounds=1)
        finally:
            self._rolled_up_at = self._clock()
        self._rollup_backlog = result.buckets + result.skipped_expired >= self.rollups.batch_buckets
        return result

    def write_batches(
        self, batches: Sequence[BatchRows], metadata: Sequence[MetadataRows] = ()
    ) -> WriteResult:
        try:
            if (
                self._maintained_at is None
                or self._clock() - self._maintained_at >= self.maintenance_interval_seconds
            ):
                self.maintain()
            return self._write(batches, metadata)
        except BaseException:
            # Host and layout ids learnt inside a rolled-back transaction may not exist, and a
            # partition this writer knew may have been dropped by another one's retention.
            self._layout_ids.clear()
            self._host_ids.clear()
            self._partitions.forget()
            raise

    def _write(
        self, batches: Sequence[BatchRows], metadata: Sequence[MetadataRows] = ()
    ) -> WriteResult:
        # Before the write transaction: creating a partition locks metric_frames, which must
        # not be held for as long as a COPY.
        self._partitions.ensure(frame.ts_ms for batch in batches for frame in batch.frames)
        with self.engine.begin() as conn:
            upsert_metadata(conn, metadata)
            host_of = self._resolve_hosts(conn, batches)
            for batch, host_id in zip(batches, host_of, strict=True):
                if batch.collection is not None:
                    self._record_collection(conn, batch.tenant_id, host_id, batch.collection)
            fresh = self._record_batches(conn, batches, host_of)
            host_ids: list[int | None] = []
            rows: list[FrameTuple] = []
            groups: list[GroupTuple] = []
            touched: set[tuple[int, int, int]] = set()  # tenant, host, frame time
            for batch, host_id, new in zip(batches, host_of, fresh, strict=True):
                if not new:  # this batch was digested before
                    host_ids.append(None)
                    continue
                host_ids.append(host_id)
                tenant_id = batch.tenant_id
                rows.extend(
                    (
                        host_id,
                        frame.ts_ms,
                        self._layout_id(conn, tenant_id, frame.series),
                        tenant_id,
                        encode_frame(frame.values),
                    )
                    for frame in batch.frames
                )
                groups.extend(
                    (
                        host_id,
                        g.ts_ms,
                        g.group_name,
                        tenant_id,
                        g.num_procs,
                        g.cpu_seconds_total,
                        round(g.memory_bytes),
                        round(g.read_bytes_total),
                        round(g.write_bytes_total),
                    )
                    for g in batch.process_groups
                )
                for audit in sorted(batch.inventory, key=lambda a: a.ts_ms):
                    upsert_inventory(
                        conn,
                        tenant_id,
                        host_id,
                        ts_ms=audit.ts_ms,
                        sha256=audit.content_sha256,
                        audit_json=audit.audit_json,
                    )
                touched.update((tenant_id, host_id, f.ts_ms) for f in batch.frames)
                # Their hour's process-group rollup is recomputed with the hour's frames.
                touched.update((tenant_id, host_id, g.ts_ms) for g in batch.process_groups)
            frames_written = self._insert_frames(conn, rows) if rows else 0
            if groups:
                self._insert_process_groups(conn, groups)
            mark_dirty(conn, MINUTE_MS, touched)
        written = len(host_ids) - host_ids.count(None)
        return WriteResult(written, len(host_ids) - written, frames_written, tuple(host_ids))

    def _resolve_hosts(self, conn: Connection, batches: Sequence[BatchRows]) -> list[int]:
        """The host id of every batch, aligned. A host this writer knows costs no statement of
        its own: its last_seen (and name, agent version) move in one UPDATE per call; the
        unknown ones are upserted by one multi-row statement and remembered."""
        out: list[int | None] = []
        latest: dict[int, tuple[int, str, str | None]] = {}  # host -> seen, name, version
        # Unknown hosts: (tenant, machine) -> first seen, seen, name, version.
        unknown: dict[tuple[int, str], tuple[int, int, str, str | None]] = {}
        for batch in batches:
            seen = max((f.ts_ms for f in batch.frames), default=now_ms())
            if batch.attach_by_name:  # the host of that name may change: never cached
                out.append(self._upsert_host(conn, batch, seen))
                continue
            key = (batch.tenant_id, batch.machine_id)
            host_id = self._host_ids.get(key)
            out.append(host_id)
            # As one upsert per batch would: the newest batch names the host, the first on a
            # tie.
            if host_id is None:
                first = unknown.get(key)
                if first is None or seen > first[1]:
                    first_seen = seen if first is None else first[0]
                    unknown[key] = (first_seen, seen, batch.hostname, batch.agent_version)
                continue
            known = latest.get(host_id)
            if known is None or seen > known[0]:
                latest[host_id] = (seen, batch.hostname, batch.agent_version)
        if unknown:
            self._upsert_hosts(conn, unknown)
            out = [
                self._host_ids[(b.tenant_id, b.machine_id)] if host_id is None else host_id
                for b, host_id in zip(batches, out, strict=True)
            ]
        if latest:
            # A replayed old batch must not move last_seen backwards or rename the host. In
            # host order, so that concurrent writers lock host rows in one order.
            conn.exec_driver_sql(
                _sql(conn, _SQLITE_TOUCH_HOST if _is_sqlite(conn) else _PG_TOUCH_HOST),
                [
                    (seen, name, seen, version, seen, host_id)
                    for host_id, (seen, name, version) in sorted(latest.items())
                ],
            )
        return cast(list[int], out)  # every None was filled from the upsert above

    def _upsert_hosts(
        self, conn: Connection, unknown: dict[tuple[int, str], tuple[int, int, str, str | None]]
    ) -> None:
        """Insert or update hosts this writer does not know, in (tenant, machine) order (one
        lock order for concurrent writers), and remember their ids."""
        rows = sorted(unknown.items())
        statement = _SQLITE_UPSERT_HOSTS if _is_sqlite(conn) else _PG_UPSERT_HOSTS
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            result = conn.exec_driver_sql(
                _sql(conn, _upsert_hosts_sql(statement, len(chunk))),
                tuple(
                    v
                    for (tenant_id, machine_id), (first_seen, seen, name, version) in chunk
                    for v in (tenant_id, machine_id, name, version, first_seen, seen)
                ),
            )
            for host_id, tenant_id, machine_id in result:
                self._host_ids[(int(tenant_id), str(machine_id))] = int(host_id)

    @staticmethod
    def _record_batches(
        conn: Connection, batches: Sequence[BatchRows], host_of: Sequence[int]
    ) -> list[bool]:
        """Record the batches' ids in ingested_batches; aligned with batches, True for those
        not digested before (and for batches without an id, whose frame keys dedupe)."""
        received = now_ms()
        fresh = [True] * len(batches)
        rows: dict[tuple[int, str], tuple[int, str, int, int, int]] = {}
        for n, (batch, host_id) in enumerate(zip(batches, host_of, strict=True)):
            if batch.batch_id is None:
                continue
            key = (host_id, batch.batch_id)
            if key in rows:  # the same batch twice in one call: the second is a replay
                fresh[n] = False
                continue
            rows[key] = (host_id, batch.batch_id, batch.tenant_id, received, len(batch.frames))
        inserted: set[tuple[int, str]] = set()
        values = list(rows.values())
        for start in range(0, len(values), _ROWS_PER_STATEMENT):
            chunk = values[start : start + _ROWS_PER_STATEMENT]
            result = conn.exec_driver_sql(
                _sql(conn, _record_batches_sql(len(chunk))),
                tuple(v for row in chunk for v in row),
            )
            inserted.update((int(h), str(b)) for h, b in result)
        for n, (batch, host_id) in enumerate(zip(batches, host_of, strict=True)):
            if fresh[n] and batch.batch_id is not None:
                key = (host_id, batch.batch_id)
                fresh[n] = key in inserted
                inserted.discard(key)  # a later duplicate (caught above) stays skipped
        return fresh

    @staticmethod
    def _insert_process_groups(conn: Connection, rows: list[GroupTuple]) -> None:
        if _is_sqlite(conn):
            conn.exec_driver_sql(_SQLITE_GROUPS, rows)
            return
        _copy_merge(conn, _GROUPS_STAGE, rows)

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
        if _is_sqlite(conn):
            return max(conn.exec_driver_sql(_SQLITE_FRAMES, rows).rowcount, 0)
        return _copy_merge(conn, _FRAMES_STAGE, rows)

    @staticmethod
    def _upsert_host(conn: Connection, batch: BatchRows, seen: int) -> int:
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
