"""SQL both databases take, for the writer's hot path: dialect helpers, the statements it
runs as plain SQL, and PostgreSQL's COPY staging.

The hot statements are plain SQL run with exec_driver_sql: as SQLAlchemy Core they were
compiled again at every call, and their executemany went through per-row parameter
processing. Written with "?" (sqlite3's paramstyle); sql() gives psycopg its "%s". SQLite
(>= 3.35) and PostgreSQL both take ON CONFLICT and RETURNING as written here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

FrameTuple = tuple[int, int, int, int, bytes]  # host_id, ts_ms, layout_id, tenant_id, vals
FrameKey = tuple[int, int, int]  # host_id, ts_ms, layout_id
# host_id, ts_ms, group_name, tenant_id, num_procs, cpu_seconds_total, memory_bytes,
# read_bytes_total, write_bytes_total
GroupTuple = tuple[int, int, str, int, int, float, int, int, int]

ROWS_PER_STATEMENT = 500  # multi-row VALUES: 2,500 parameters, far below both limits
_SQLITE_FRAMES = (
    "INSERT INTO metric_frames (host_id, ts_ms, layout_id, tenant_id, vals)"
    " VALUES {values} ON CONFLICT DO NOTHING RETURNING host_id, ts_ms, layout_id"
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
def _upsert_hosts_statement(statement: str, rows: int) -> str:
    return statement.replace("{values}", ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows))


@functools.cache
def _record_batches_statement(rows: int) -> str:
    placeholders = ", ".join(["(?, ?, ?, ?, ?)"] * rows)  # no value is spliced in
    columns = "host_id, batch_id, tenant_id, received_ms, snapshots"
    return (
        f"INSERT INTO ingested_batches ({columns}) VALUES {placeholders}"  # noqa: S608
        " ON CONFLICT DO NOTHING RETURNING host_id, batch_id"
    )


def is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def sql(conn: Connection, statement: str) -> str:
    """The statement in the connection's paramstyle."""
    return statement if is_sqlite(conn) else statement.replace("?", "%s")


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
    " ORDER BY host_id, ts_ms ON CONFLICT DO NOTHING RETURNING host_id, ts_ms, layout_id",
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


def _copy_merge(
    conn: Connection, stage: _Stage, rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Rows into their table through the staging (PostgreSQL); returns what the merge
    returns of the new rows (nothing when it has no RETURNING)."""
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
            return cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as exc:
        # Past SQLAlchemy here, so do what it would: a dead connection leaves the pool,
        # and the error becomes the SQLAlchemyError that callers (digest) retry on.
        if driver.broken or driver.closed:
            conn.invalidate(exc)
        raise DBAPIError.instance(stage.merge, None, exc, psycopg.Error) from exc


def insert_for(conn: Connection, table: Any) -> Any:
    """An INSERT of the connection's dialect, which has on_conflict_do_nothing/_do_update."""
    dialect = sqlite if is_sqlite(conn) else postgresql
    return dialect.insert(table)


def touch_hosts_sql(conn: Connection) -> str:
    return sql(conn, _SQLITE_TOUCH_HOST if is_sqlite(conn) else _PG_TOUCH_HOST)


def upsert_hosts_sql(conn: Connection, rows: int) -> str:
    statement = _SQLITE_UPSERT_HOSTS if is_sqlite(conn) else _PG_UPSERT_HOSTS
    return sql(conn, _upsert_hosts_statement(statement, rows))


# A named device's host seen again (store/writer.py _resolve_named): last_seen never moves
# backwards.
_TOUCH_LAST_SEEN = "UPDATE hosts SET last_seen_ms = {greatest}(last_seen_ms, ?) WHERE id = ?"


def touch_last_seen_sql(conn: Connection) -> str:
    greatest = "max" if is_sqlite(conn) else "greatest"
    return sql(conn, _TOUCH_LAST_SEEN.replace("{greatest}", greatest))


@functools.cache
def _hosts_by_name_statement(names: int) -> str:
    placeholders = ", ".join(["?"] * names)  # no value is spliced in
    return (
        "SELECT id, name, last_seen_ms FROM hosts"  # noqa: S608
        f" WHERE tenant_id = ? AND name IN ({placeholders})"
    )


def hosts_by_name_sql(conn: Connection, names: int) -> str:
    """A tenant's hosts of any of `names` names (tenant id, then the names)."""
    return sql(conn, _hosts_by_name_statement(names))


def record_batches_sql(conn: Connection, rows: int) -> str:
    return sql(conn, _record_batches_statement(rows))


@functools.cache
def _sqlite_frames_statement(rows: int) -> str:
    return _SQLITE_FRAMES.replace("{values}", ", ".join(["(?, ?, ?, ?, ?)"] * rows))


def insert_frames(conn: Connection, rows: list[FrameTuple]) -> set[FrameKey]:
    """Insert frame rows, skipping keys already stored; returns the keys that were new."""
    if not is_sqlite(conn):
        return {(int(h), int(t), int(la)) for h, t, la in _copy_merge(conn, _FRAMES_STAGE, rows)}
    new: set[FrameKey] = set()
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start : start + ROWS_PER_STATEMENT]
        result = conn.exec_driver_sql(
            _sqlite_frames_statement(len(part)), tuple(v for row in part for v in row)
        )
        new.update((int(h), int(t), int(la)) for h, t, la in result)
    return new


def insert_process_groups(conn: Connection, rows: list[GroupTuple]) -> None:
    if is_sqlite(conn):
        conn.exec_driver_sql(_SQLITE_GROUPS, rows)
        return
    _copy_merge(conn, _GROUPS_STAGE, rows)
