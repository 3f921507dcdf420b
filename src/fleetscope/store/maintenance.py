"""Upkeep beside the writes: raw-tier partitions and retention, rollup-tier retention, and the
pace of the rollup step (store/rollups.py).

Nothing here runs by itself. The digest loop (digest/worker.py) calls maintain_if_due() just
before each write and roll_up() after each batch and when idle; the server calls maintain()
once at start, so that today's partitions and those ahead exist before the first write. Every
"is it time" reads the injected clock through a Pacer.

maintain() keeps the raw tier's partitions (PostgreSQL: yesterday to partition_days_ahead days
ahead, store/partitions.py) and drops what has expired, each tier rolled up into the next before
its rows may go, so that no bucket loses its source before it has been rolled up. Each step is
its own transaction, none is the write's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from fleetscope.store.partitions import (
    FramePartitions,
    MaintenanceResult,
    delete_per_host_before,
)
from fleetscope.store.rollup_math import DAY_MS, HOUR_MS, MINUTE_MS
from fleetscope.store.rollups import TIER_1H, TIER_1M, RollupResult, Rollups, earliest_dirty
from fleetscope.store.tables import process_group_rollups_1h, process_groups


@dataclass(slots=True)
class Pacer:
    """Whether a periodic step is due: at the first ask, then once interval_seconds have
    passed on the clock since it last ran (ran())."""

    interval_seconds: float
    clock: Callable[[], float] = time.time
    last_ran: float | None = None

    def due(self) -> bool:
        return self.last_ran is None or self.clock() - self.last_ran >= self.interval_seconds

    def ran(self) -> None:
        self.last_ran = self.clock()


class StoreMaintenance:
    def __init__(
        self,
        engine: Engine,
        partitions: FramePartitions | None = None,
        *,
        raw_retention_days: int | None = None,
        rollup_1m_retention_days: int | None = None,
        rollup_1h_retention_days: int | None = None,
        process_rollup_retention_days: int | None = None,
        partition_days_ahead: int = 2,
        maintenance_interval_seconds: float = 3600.0,
        rollup_interval_seconds: float = 10.0,
        rollup_slice_buckets: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """partitions: the writer's (StoreWriter.partitions), so that it knows the days made
        ahead and forgets the ones dropped here. raw_retention_days: frames older than this
        are dropped (None keeps them all); the same for the rollup tiers. partition_days_ahead:
        PostgreSQL partitions made ahead of today, so that midnight does not wait on DDL."""
        self.engine = engine
        self.partitions = FramePartitions(engine) if partitions is None else partitions
        self.raw_retention_days = raw_retention_days
        self.rollup_1m_retention_days = rollup_1m_retention_days
        self.rollup_1h_retention_days = rollup_1h_retention_days
        # process_group_rollups_1h: its own age limit, by default that of the 1h tier.
        self.process_rollup_retention_days = (
            rollup_1h_retention_days
            if process_rollup_retention_days is None
            else process_rollup_retention_days
        )
        self.partition_days_ahead = partition_days_ahead
        self.rollups = Rollups(
            engine,
            raw_retention_days,
            rollup_1m_retention_days,
            batch_buckets=rollup_slice_buckets,
            clock=clock,
        )
        self._clock = clock
        self.maintenance_pace = Pacer(maintenance_interval_seconds, clock)
        self.rollup_pace = Pacer(rollup_interval_seconds, clock)
        self._rollup_backlog = False  # the last slice was full: more is waiting

    def maintain_if_due(self) -> MaintenanceResult | None:
        """maintain() once per maintenance interval (and at the first call); None when not
        due. A failed pass is tried again at the next call. Digest calls this before each
        write: a failure stops that write as a failed write would."""
        if not self.maintenance_pace.due():
            return None
        try:
            return self.maintain()
        except BaseException:
            # A partition the writer knew may have been dropped by another one's retention.
            self.partitions.forget()
            raise

    def maintain(self) -> MaintenanceResult:
        """Create partitions ahead and drop (SQLite: delete) expired raw frames and rollups.

        Each tier is rolled up into the next before it expires, and nothing is dropped from
        the earliest bucket still marked dirty on (another worker may hold it)."""
        now = int(self._clock() * 1000)
        if self.raw_retention_days is not None:
            self.rollups.run(before_ms=now - self.raw_retention_days * DAY_MS)
        result = self.partitions.maintain(
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
        self.maintenance_pace.ran()
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
        one run holding it until every bucket is done. At steady state slices change request
        latency little (docs/deployment.md, "Rollups in slices")."""
        if force:
            try:
                return self.rollups.run()
            finally:
                self.rollup_pace.ran()
        if not self._rollup_backlog and not self.rollup_pace.due():
            return None
        try:
            result = self.rollups.run(max_rounds=1)
        finally:
            self.rollup_pace.ran()
        self._rollup_backlog = result.buckets + result.skipped_expired >= self.rollups.batch_buckets
        return result
