"""Rollup tiers: 1-minute and 1-hour min/max/sum/count of every series, late data included.

Storage (tables.metric_rollups_1m / _1h): one row per (host, bucket start, layout), like a raw
frame, whose blob is one zstd frame of four float64 arrays in layout order: min, max, sum,
count. An absent series has count 0 and NaN min/max. avg = sum / count is left to the reader.

Late data (docs/data-model.md, "Tiers"): the writer upserts the (host, minute) pairs touched by
each committed batch into rollup_dirty in the same transaction, bumping a generation. This
module's step takes settled dirty buckets, recomputes each one whole from its source rows
(minutes from raw frames, hours from minute rows) and clears the mark only if its generation
is unchanged. Recomputing instead of incrementing keeps rollups exact under replays and late
data; a recomputed minute marks its hour dirty.

Process groups (tables.process_group_rollups_1h) ride on the hour marks: when the 1-hour tier
recomputes a host's hour, it recomputes that hour's process-group rows from the raw
process_groups in the same transaction (the writer marks the minutes of process groups as it
marks those of frames). group_hours is their math; query/processes.py reads them.

Concurrency: PostgreSQL workers claim dirty rows with FOR UPDATE SKIP LOCKED; a writer that
marks a claimed bucket waits for the claim to commit, so its frames are seen by the next
recomputation. SQLite has one writer at a time: the step takes the write lock first, so its
reads and writes are one serialised transaction.

The math (store/rollup_math.py: frames_stats, merge_stats, group_hours) is pure; Rollups is
the thin I/O loop around it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Table, delete, func, select, text, tuple_

from fleetscope.store.chunks import lookback
from fleetscope.store.compaction import compact
from fleetscope.store.rollup_math import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Stats,
    decode_stats,
    encode_stats,
    frames_stats,
    group_hours,
    merge_stats,
)
from fleetscope.store.sql import sql
from fleetscope.store.stretch import LayoutStretch, decode_stretch
from fleetscope.store.tables import (
    metric_frames,
    metric_rollups_1h,
    metric_rollups_1m,
    process_group_rollups_1h,
    process_groups,
    rollup_dirty,
)

log = logging.getLogger(__name__)

# A bucket is rolled up once it ended this long ago: the agents' uploads of the current minute
# arrive in the meantime, so a bucket is usually computed once. Later data re-marks it.
SETTLE_MS = 2 * MINUTE_MS
# Buckets of one host further apart than this many steps are read by separate range scans.
_RUN_GAP_STEPS = 16


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    step_ms: int
    table: Table
    source: Table  # metric_frames, or the finer rollup table
    parent_step_ms: int | None  # the coarser tier to mark dirty when a bucket changes


TIER_1M = Tier("1m", MINUTE_MS, metric_rollups_1m, metric_frames, HOUR_MS)
TIER_1H = Tier("1h", HOUR_MS, metric_rollups_1h, metric_rollups_1m, None)
TIERS = (TIER_1M, TIER_1H)


# Plain SQL run with exec_driver_sql: the writer marks on every call, and the Core statement's
# compile and per-row parameter processing cost more than the upsert itself. "?" for sqlite3,
# "%s" for psycopg; both databases take this ON CONFLICT as written.
_MARK_DIRTY = (
    "INSERT INTO rollup_dirty (step_ms, bucket_ms, host_id, tenant_id, gen) VALUES (?, ?, ?, ?, 1)"
    " ON CONFLICT (step_ms, bucket_ms, host_id) DO UPDATE SET gen = rollup_dirty.gen + 1"
)


def mark_dirty(conn: Connection, step_ms: int, keys: Iterable[tuple[int, int, int]]) -> None:
    """Mark (tenant_id, host_id, ts_ms) buckets of this step for recomputation, in the caller's
    transaction. Sorted, so that concurrent markers lock rows in one order (no deadlock)."""
    rows = sorted({(ts // step_ms * step_ms, host, tenant) for tenant, host, ts in keys})
    if not rows:
        return
    statement = _MARK_DIRTY if conn.dialect.name == "sqlite" else _MARK_DIRTY.replace("?", "%s")
    conn.exec_driver_sql(statement, [(step_ms, b, h, t) for b, h, t in rows])


def earliest_dirty(conn: Connection, step_ms: int) -> int | None:
    found = conn.execute(
        select(func.min(rollup_dirty.c.bucket_ms)).where(rollup_dirty.c.step_ms == step_ms)
    ).scalar()
    return None if found is None else int(found)


@dataclass(frozen=True, slots=True)
class RollupResult:
    buckets: int = 0  # buckets recomputed (both tiers)
    rows_read: int = 0  # source rows read: raw frames and minute rows
    skipped_expired: int = 0  # late data whose source tier had already expired
    process_hours: int = 0  # (host, hour) process-group buckets recomputed
    process_rows_read: int = 0  # raw process_groups rows read for them


def _runs(buckets: list[int], step_ms: int) -> list[list[int]]:
    """Sorted buckets cut where they are far apart, each run one range scan."""
    runs: list[list[int]] = []
    for bucket in buckets:
        if runs and bucket - runs[-1][-1] <= _RUN_GAP_STEPS * step_ms:
            runs[-1].append(bucket)
        else:
            runs.append([bucket])
    return runs


class Rollups:
    """Recomputes dirty buckets. Safe to run from several workers at once (module doc)."""

    def __init__(
        self,
        engine: Engine,
        raw_retention_days: int | None = None,
        rollup_1m_retention_days: int | None = None,
        batch_buckets: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.source_retention_days = {
            TIER_1M.name: raw_retention_days,
            TIER_1H.name: rollup_1m_retention_days,
        }
        self.batch_buckets = batch_buckets
        self._clock = clock

    def run(self, before_ms: int | None = None, max_rounds: int = 1000) -> RollupResult:
        """Roll up settled dirty buckets (and only those starting before before_ms, if given)
        until none is left or max_rounds transactions ran."""
        total = RollupResult()
        for tier in TIERS:
            for _ in range(max_rounds):
                done = self.run_tier(tier, before_ms)
                total = RollupResult(
                    total.buckets + done.buckets,
                    total.rows_read + done.rows_read,
                    total.skipped_expired + done.skipped_expired,
                    total.process_hours + done.process_hours,
                    total.process_rows_read + done.process_rows_read,
                )
                if done.buckets + done.skipped_expired < self.batch_buckets:
                    break
        return total

    def run_tier(self, tier: Tier, before_ms: int | None = None) -> RollupResult:
        """One transaction: claim up to batch_buckets settled dirty buckets of this tier,
        recompute them, clear their marks."""
        now = int(self._clock() * 1000)
        settled = now - SETTLE_MS - tier.step_ms
        limit = settled if before_ms is None else min(settled, before_ms - 1)
        retention = self.source_retention_days[tier.name]
        expired_before = None if retention is None else now - retention * DAY_MS
        raw_retention = self.source_retention_days[TIER_1M.name]
        raw_expired_before = None if raw_retention is None else now - raw_retention * DAY_MS
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # Take the write lock before reading: a deferred transaction would read a
                # snapshot that another writer could change before this one writes.
                conn.execute(text("UPDATE rollup_dirty SET gen = gen WHERE step_ms < 0"))
            claim = (
                select(
                    rollup_dirty.c.host_id,
                    rollup_dirty.c.bucket_ms,
                    rollup_dirty.c.tenant_id,
                    rollup_dirty.c.gen,
                )
                .where(rollup_dirty.c.step_ms == tier.step_ms, rollup_dirty.c.bucket_ms <= limit)
                .order_by(rollup_dirty.c.bucket_ms, rollup_dirty.c.host_id)
                .limit(self.batch_buckets)
            )
            if conn.dialect.name == "postgresql":
                claim = claim.with_for_update(skip_locked=True)
            claimed = conn.execute(claim).all()
            if not claimed:
                return RollupResult()
            by_host: dict[int, list[int]] = defaultdict(list)
            tenant_of: dict[int, int] = {}
            for host_id, bucket_ms, tenant_id, _ in claimed:
                by_host[host_id].append(bucket_ms)
                tenant_of[host_id] = tenant_id
            buckets = rows_read = skipped = process_hours = process_rows = 0
            changed: list[tuple[int, int, int]] = []
            for host_id, host_buckets in sorted(by_host.items()):
                for run in _runs(sorted(host_buckets), tier.step_ms):
                    done, read, skip = self._recompute(
                        conn, tier, tenant_of[host_id], host_id, run, expired_before
                    )
                    buckets += done
                    rows_read += read
                    skipped += skip
                    changed.extend((tenant_of[host_id], host_id, b) for b in run)
                    if tier is TIER_1H:
                        done, read = self._recompute_processes(
                            conn, tenant_of[host_id], host_id, run, raw_expired_before
                        )
                        process_hours += done
                        process_rows += read
            # Clear only the marks as claimed. Writers cannot re-mark a claimed bucket before
            # this commits (PostgreSQL: they wait on the row lock; SQLite: on the write lock),
            # so this is a second guard: a newer mark is never lost.
            keys = [(h, b, g) for h, b, _, g in claimed]
            conn.execute(
                delete(rollup_dirty).where(
                    rollup_dirty.c.step_ms == tier.step_ms,
                    tuple_(
                        rollup_dirty.c.host_id, rollup_dirty.c.bucket_ms, rollup_dirty.c.gen
                    ).in_(keys),
                )
            )
            if tier.parent_step_ms is not None:
                mark_dirty(conn, tier.parent_step_ms, changed)
        return RollupResult(buckets, rows_read, skipped, process_hours, process_rows)

    @staticmethod
    def _recompute_processes(
        conn: Connection,
        tenant_id: int,
        host_id: int,
        run: list[int],
        expired_before: int | None,
    ) -> tuple[int, int]:
        """Recompute one host's process-group hours of one run from raw process_groups;
        returns (hours recomputed, rows read). Like _recompute, an hour whose raw rows may
        be partly expired keeps the rollup it has."""
        target = process_group_rollups_1h
        first, end = run[0], run[-1] + HOUR_MS
        wanted = set(run)
        if expired_before is not None and first < expired_before:
            wanted -= set(
                conn.execute(
                    select(target.c.bucket_ms)
                    .where(
                        target.c.host_id == host_id,
                        target.c.bucket_ms >= first,
                        target.c.bucket_ms < min(end, expired_before),
                    )
                    .distinct()
                ).scalars()
            )
        if not wanted:
            return 0, 0
        pg = process_groups.c
        rows = conn.execute(
            select(pg.ts_ms, pg.group_name, pg.num_procs, pg.cpu_seconds_total, pg.memory_bytes)
            .where(pg.host_id == host_id, pg.ts_ms >= first, pg.ts_ms < end)
            .order_by(pg.ts_ms, pg.group_name)
        ).all()
        redo = sorted(wanted)
        conn.execute(
            delete(target).where(target.c.host_id == host_id, target.c.bucket_ms.in_(redo))
        )
        new_rows = [
            {
                "host_id": host_id,
                "bucket_ms": bucket,
                "group_name": name,
                "tenant_id": tenant_id,
                "samples": h.samples,
                "memory_sum": h.memory_sum,
                "memory_max": h.memory_max,
                "num_procs_max": h.num_procs_max,
                "first_ts_ms": h.first_ts_ms,
                "first_cpu": h.first_cpu,
                "last_ts_ms": h.last_ts_ms,
                "last_cpu": h.last_cpu,
                "cpu_increase": h.cpu_increase,
            }
            for (bucket, name), h in sorted(group_hours(rows).items())
            if bucket in wanted
        ]
        if new_rows:
            conn.execute(target.insert(), new_rows)
        return len(redo), len(rows)

    @staticmethod
    def _recompute(  # noqa: PLR0917 (one private call site)
        conn: Connection,
        tier: Tier,
        tenant_id: int,
        host_id: int,
        run: list[int],
        expired_before: int | None,
    ) -> tuple[int, int, int]:
        """Recompute one host's buckets of one run; returns (recomputed, rows read, skipped)."""
        target = tier.table
        first, end = run[0], run[-1] + tier.step_ms
        wanted = set(run)
        skip: set[int] = set()
        if expired_before is not None and first < expired_before:
            # The source of these buckets may be partly dropped: recomputing would replace a
            # complete rollup with a partial one, so an existing rollup is kept as it is.
            skip = set(
                conn.execute(
                    select(target.c.bucket_ms).where(
                        target.c.host_id == host_id,
                        target.c.bucket_ms >= first,
                        target.c.bucket_ms < min(end, expired_before),
                    )
                ).scalars()
            )
        raw = tier.source is metric_frames
        if raw:
            stretches, groups, read = _raw_groups(conn, tier.step_ms, host_id, first, end)
        else:
            stretches = {}
            groups, read = _rollup_groups(conn, tier, host_id, first, end)
        redo = sorted(wanted - skip)
        if redo:
            conn.exec_driver_sql(
                _delete_buckets_sql(conn, target.name, len(redo)), (host_id, *redo)
            )
        new_rows = [
            (host_id, bucket, layout_id, tenant_id, frames, encode_stats(stats))
            for (bucket, layout_id), (frames, stats) in sorted(groups.items())
            if bucket in wanted and bucket not in skip
        ]
        if new_rows:
            conn.exec_driver_sql(sql(conn, _INSERT_ROLLUP.format(table=target.name)), new_rows)
        if raw:  # the minutes' rows as few chunks, while they are at hand (store/compaction.py)
            compact(conn, tenant_id, host_id, stretches, start_ms=first, end_ms=end)
        if skip:
            log.info(
                "rollup %s: host %d: %d buckets got data later than the %s tier keeps; "
                "their rollups are left as they were",
                tier.name,
                host_id,
                len(skip),
                "raw" if raw else "1m",
            )
        return len(redo), read, len(skip)


# Plain SQL run with exec_driver_sql (store/sql.py): the step runs these for every bucket, and
# as Core statements their compilation cost about as much as running them. "?" for sqlite3;
# sql() gives psycopg its "%s". Table names come from tables.py, never from input.
_SELECT_RAW = (
    "SELECT ts_ms, layout_id, vals FROM metric_frames"
    " WHERE host_id = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms"
)
_SELECT_ROLLUPS = (
    "SELECT bucket_ms, layout_id, stats, frames FROM {table}"
    " WHERE host_id = ? AND bucket_ms >= ? AND bucket_ms < ? ORDER BY bucket_ms"
)
_INSERT_ROLLUP = (
    "INSERT INTO {table} (host_id, bucket_ms, layout_id, tenant_id, frames, stats)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


@functools.cache
def _delete_buckets_statement(table: str, buckets: int) -> str:
    marks = ", ".join(["?"] * buckets)
    return f"DELETE FROM {table} WHERE host_id = ? AND bucket_ms IN ({marks})"  # noqa: S608


def _delete_buckets_sql(conn: Connection, table: str, buckets: int) -> str:
    return sql(conn, _delete_buckets_statement(table, buckets))


_Groups = dict[tuple[int, int], tuple[int, Stats]]  # (bucket, layout) -> (frames, stats)


def _raw_groups(
    conn: Connection, step_ms: int, host_id: int, first: int, end: int
) -> tuple[dict[int, LayoutStretch], _Groups, int]:
    """A host's raw rows of [first, end) decoded by layout (stretch.decode_stretch), each
    bucket's stats, and how many snapshots they hold."""
    stored = conn.exec_driver_sql(sql(conn, _SELECT_RAW), (host_id, lookback(first), end))
    stretches = decode_stretch(stored, first, end - 1)
    groups: _Groups = {}
    read = 0
    for layout_id, stretch in stretches.items():
        times, values = stretch.in_range.times, stretch.in_range.values
        read += len(times)
        buckets = times // step_ms * step_ms
        cuts = np.flatnonzero(np.diff(buckets)) + 1
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(times)], strict=True):
            groups[(int(buckets[lo]), layout_id)] = (hi - lo, frames_stats(values[lo:hi]))
    return stretches, groups, read


def _rollup_groups(
    conn: Connection, tier: Tier, host_id: int, first: int, end: int
) -> tuple[_Groups, int]:
    """Each bucket's stats merged from a host's rows of the finer tier in [first, end), and
    how many rows that was."""
    rows = conn.exec_driver_sql(
        sql(conn, _SELECT_ROLLUPS.format(table=tier.source.name)), (host_id, first, end)
    ).all()
    members: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for row in rows:
        members[(row[0] // tier.step_ms * tier.step_ms, row[1])].append(row)
    groups = {
        key: (sum(m[3] for m in group), merge_stats([decode_stats(m[2]) for m in group]))
        for key, group in members.items()
    }
    return groups, len(rows)
