"""Daily range partitions of metric_frames on PostgreSQL, and raw-tier retention on both
databases.

A partition holds one UTC day, [day, day + 1 day) in ts_ms, and is named
metric_frames_pYYYYMMDD. There is no default partition: the writer creates the partition of any
day it is about to write, late or early, before the write transaction (creating a partition
locks the parent table, so it is done in its own short transaction, not while a COPY holds
rows). A default partition would instead make every later CREATE of a partition scan it, and
fail when it held rows of that day.

Retention drops a day's partition once the whole day is older than the retention period, so
raw frames are kept at least `raw_retention_days` and at most one day more. On SQLite, which
has no partitions, expired frames are deleted host by host along the primary key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, select, text

from fleetscope.store.chunks import lookback
from fleetscope.store.tables import hosts, metric_frames
from fleetscope.store.tenancy import wall_statements

DAY_MS = 86_400_000
PARTITION_PREFIX = "metric_frames_p"
_PARTITION_NAME = re.compile(rf"^{PARTITION_PREFIX}(\d{{8}})$")
# pg_advisory_xact_lock key that serialises partition DDL between workers ("fsparts").
_DDL_LOCK_KEY = 0x6673706172747300


def day_of(ts_ms: int) -> int:
    """The UTC day holding ts_ms, as the epoch ms of its midnight."""
    return ts_ms // DAY_MS * DAY_MS


def partition_name(day_ms: int) -> str:
    return PARTITION_PREFIX + datetime.fromtimestamp(day_ms / 1000, UTC).strftime("%Y%m%d")


def is_partition_name(name: str) -> bool:
    return _PARTITION_NAME.match(name) is not None


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """For Alembic: day partitions are made at run time, not by migrations."""
    return not (type_ == "table" and name is not None and is_partition_name(name))


def alembic_filters(dialect_name: str) -> dict[str, Any]:
    """Options for Alembic's comparisons: skip day partitions, and on SQLite the indexes that
    exist only on PostgreSQL (Alembic does not read Index.ddl_if)."""

    def include_object(
        obj: Any, _name: str | None, type_: str, _reflected: bool, _compare_to: Any
    ) -> bool:
        if type_ == "index" and dialect_name != "postgresql":
            return "brin" not in str(obj.dialect_options["postgresql"].get("using") or "")
        return True

    return {"include_name": include_name, "include_object": include_object}


def _day_of_name(name: str) -> int | None:
    match = _PARTITION_NAME.match(name)
    if match is None:
        return None
    day = datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC)
    return int(day.timestamp() * 1000)


def partition_days(conn: Connection) -> set[int]:
    """The days that have a partition of metric_frames in the current schema."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'metric_frames'::regclass"
        )
    ).scalars()
    return {day for day in map(_day_of_name, names) if day is not None}


def create_partitions(conn: Connection, days: Iterable[int]) -> list[str]:
    """Create the missing partitions for these days (midnights); returns the names made.
    Serialised by an advisory lock, so workers racing for the same day do not collide."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK_KEY})
    missing = sorted(set(days) - partition_days(conn))
    for day in missing:
        # Names and bounds are made here from integers, never from input text.
        conn.execute(
            text(
                f"CREATE TABLE {partition_name(day)} PARTITION OF metric_frames"
                f" FOR VALUES FROM ({day}) TO ({day + DAY_MS})"
            )
        )
        # Reached through the parent, a partition is behind the parent's wall; this one is
        # for a query that names the partition itself (store/tenancy.py).
        for statement in wall_statements(partition_name(day)):
            conn.execute(text(statement))
    return [partition_name(day) for day in missing]


def drop_partitions_before(conn: Connection, cutoff_ms: int) -> list[str]:
    """Drop every partition whose whole day ends at or before cutoff_ms."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK_KEY})
    expired = sorted(day for day in partition_days(conn) if day + DAY_MS <= cutoff_ms)
    for day in expired:
        conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(day)}"))
    return [partition_name(day) for day in expired]


def delete_per_host_before(
    conn: Connection, table: Table, cutoff_ms: int, time_column: str = "ts_ms"
) -> int:
    """Delete a table's rows older than cutoff_ms one host at a time, each a range of its
    primary key (host_id, <time_column>, ...), instead of one DELETE by time that would scan
    the whole table. For tables keyed that way and not partitioned: metric_frames on SQLite,
    process_groups, and the rollup tiers (time_column "bucket_ms")."""
    deleted = 0
    for host_id in conn.execute(select(hosts.c.id)).scalars():
        deleted += conn.execute(
            delete(table).where(table.c.host_id == host_id, table.c[time_column] < cutoff_ms)
        ).rowcount
    return deleted


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    created: tuple[str, ...]
    dropped: tuple[str, ...]
    frames_deleted: int  # metric_frames rows, each one or several snapshots (store/chunks.py)
    rollup_rows_deleted: int = 0
    process_groups_deleted: int = 0


class FramePartitions:
    """What the writer knows about partitions: the days it has seen exist, so that only a new
    day costs a catalog query."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.enabled = engine.dialect.name == "postgresql"
        self._known: set[int] = set()

    def ensure(self, ts_ms: Iterable[int]) -> list[str]:
        if not self.enabled:
            return []
        missing = {day_of(ts) for ts in ts_ms} - self._known
        if not missing:
            return []
        with self.engine.begin() as conn:
            created = create_partitions(conn, missing)
        self._known |= missing
        return created

    def forget(self) -> None:
        """After a failed write: a partition may have been dropped under us."""
        self._known.clear()

    def maintain(
        self,
        now_ms: int,
        days_ahead: int,
        retention_days: int | None,
        keep_from: Callable[[Connection], int | None] | None = None,
    ) -> MaintenanceResult:
        """Create partitions from yesterday to `days_ahead` days ahead; drop, or on SQLite
        delete, what is older than the retention, but nothing from keep_from(conn) on (the
        earliest minute not rolled up yet: raw frames outlive their rollup)."""
        created: list[str] = []
        dropped: list[str] = []
        deleted = 0
        today = day_of(now_ms)
        if self.enabled:
            created = self.ensure(today + DAY_MS * n for n in range(-1, days_ahead + 1))
        if retention_days is not None:
            cutoff = now_ms - retention_days * DAY_MS
            with self.engine.begin() as conn:
                keep = None if keep_from is None else keep_from(conn)
                if keep is not None:
                    cutoff = min(cutoff, keep)
                if self.enabled:
                    dropped = drop_partitions_before(conn, cutoff)
                else:
                    # A row holds up to CHUNK_SPAN_MS of snapshots from its ts_ms: only rows
                    # that start that much earlier hold nothing from the cutoff on.
                    deleted = delete_per_host_before(conn, metric_frames, lookback(cutoff))
            self._known -= {day for day in map(_day_of_name, dropped) if day is not None}
        return MaintenanceResult(tuple(created), tuple(dropped), deleted)
