"""A host's series over a time range, decoded from stored frames (store/frames.py) or from a
rollup tier (store/rollups.py), chosen by the range or by the step asked for.

Tier thresholds (docs/data-model.md, "Tiers"): a range up to 6 hours reads raw frames (at the
agents' 10 s default, 2,160 points a series); up to 3 days the 1-minute tier (4,320 points at
most, ~37 µs a decoded minute row on SQLite, bench/bench_rollups.py); beyond, the 1-hour tier
(720 points for 30 days). A step picks the coarsest tier no
coarser than the step, and buckets are merged up to the step.

Stitching: a tier answers only the buckets it holds complete. The buckets marked in
rollup_dirty (not rolled up yet, or changed by late data since) come from the finer tier and,
for marked minutes, the raw frames, merged into the same points: a host that started today
shows its newest hours on a 30-day range (docs/data-model.md, "Tiers").

Counters (`*_total`): rollups keep min, max, sum and count of every series alike; an average
of a counter means nothing. A rate over a bucket is (max - min) / bucket length for a
monotonic counter that did not reset, computed by the caller from agg=min/max.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, Table, select

from fleetscope.model.series import split_series_key
from fleetscope.query.stitch import dirty_buckets, minute_parts, raw_parts
from fleetscope.store.chunks import columns_in_range, frames_in_range, lookback
from fleetscope.store.frames import decompress_frame, value_or_none
from fleetscope.store.rollup_math import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Stats,
    decode_stats,
    frames_stats,
    merge_stats,
    value_of,
)
from fleetscope.store.rollups import TIER_1H, TIER_1M
from fleetscope.store.tables import metric_frames, metric_layouts
from fleetscope.store.writer import decode_layout

Point = tuple[float, float | None]  # (unix seconds, value); None = absent at that instant

RAW_MAX_RANGE_MS = 6 * HOUR_MS
MINUTE_MAX_RANGE_MS = 3 * DAY_MS
AGGREGATES = ("avg", "min", "max", "sum", "count")
TIER_STEP_MS = {"raw": 0, TIER_1M.name: MINUTE_MS, TIER_1H.name: HOUR_MS}


def choose_tier(start_ms: int, end_ms: int, step_ms: int | None = None) -> str:
    """raw, 1m or 1h: by the step if one is asked for, else by the range (module doc)."""
    if step_ms is not None:
        if step_ms >= HOUR_MS:
            return TIER_1H.name
        return TIER_1M.name if step_ms >= MINUTE_MS else "raw"
    span = end_ms - start_ms
    if span <= RAW_MAX_RANGE_MS:
        return "raw"
    return TIER_1M.name if span <= MINUTE_MAX_RANGE_MS else TIER_1H.name


@dataclass(slots=True)
class Series:
    metric: str
    labels: dict[str, str]
    points: list[Point] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SeriesStats:
    """One series over a whole range."""

    metric: str
    labels: dict[str, str]
    min: float
    max: float
    sum: float
    count: int

    @property
    def avg(self) -> float:
        return self.sum / self.count


@dataclass(frozen=True, slots=True)
class TieredSeries:
    tier: str  # raw, 1m or 1h
    step_ms: int | None  # the points' spacing; None for raw (the agents' own interval)
    agg: str  # what a rollup point is, of the samples of its bucket (raw: the sample)
    series: list[Series]

    @property
    def step_seconds(self) -> float | None:
        return None if self.step_ms is None else self.step_ms / 1000


_FLOAT64 = struct.Struct("<d")  # store/frames.py: little-endian float64
_ARRAY_OF = {"min": 0, "max": 1, "sum": 2}


def _stats_value(raw: bytes, width: int, index: int, agg: str) -> float | None:
    """value_of() read straight from a decompressed stats blob (store/rollups.py: min, max,
    sum and count arrays of `width` float64 each, in that order)."""
    count: float = _FLOAT64.unpack_from(raw, (3 * width + index) * 8)[0]
    if count == 0:
        return None
    if agg == "count":
        return count
    if agg == "avg":
        total: float = _FLOAT64.unpack_from(raw, (2 * width + index) * 8)[0]
        return total / count
    if agg not in _ARRAY_OF:
        raise ValueError(f"unknown aggregate {agg!r}: avg, min, max, sum or count")
    value: float = _FLOAT64.unpack_from(raw, (_ARRAY_OF[agg] * width + index) * 8)[0]
    return value


def _emit_points(
    start: int | None,
    at_step: dict[int, list[tuple[Stats, int]]],
    series_of: dict[int, Series],
    agg: str,
) -> None:
    """One point per series for the step at `start`, from its parts in every layout."""
    if start is None:
        return
    ts = start / 1000
    for key, parts in at_step.items():
        if len(parts) == 1:
            value = value_of(parts[0][0], parts[0][1], agg)
        else:
            value = value_of(merge_stats([_column(s, i) for s, i in parts]), 0, agg)
        series_of[key].points.append((ts, value))
    at_step.clear()


def _column(stats: Stats, index: int) -> Stats:
    return Stats(
        array("d", [stats.min[index]]),
        array("d", [stats.max[index]]),
        array("d", [stats.sum[index]]),
        array("d", [stats.count[index]]),
    )


class MetricQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._layouts: dict[int, list[str]] = {}  # layouts never change once written

    def host_series(
        self,
        tenant_id: int,
        host_id: int,
        start_ms: int,
        end_ms: int,
        metrics: Collection[str] | None = None,
    ) -> list[Series]:
        """Every series of the host in [start, end], in time order, optionally only the named
        metrics. One clustered range scan over (host_id, ts_ms)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(metric_frames.c.ts_ms, metric_frames.c.layout_id, metric_frames.c.vals)
                .where(
                    metric_frames.c.tenant_id == tenant_id,
                    metric_frames.c.host_id == host_id,
                    metric_frames.c.ts_ms >= lookback(start_ms),
                    metric_frames.c.ts_ms <= end_ms,
                )
                .order_by(metric_frames.c.ts_ms)
            ).all()
            self._learn_layouts(conn, {layout_id for _, layout_id, _ in rows})
        by_key: dict[str, Series] = {}
        # Per layout, which positions to keep and their Series: computed once, not per frame.
        plans: dict[int, list[tuple[int, Series]]] = {}

        def columns_of(layout_id: int) -> list[int]:
            plan = plans.get(layout_id)
            if plan is None:
                plan = plans[layout_id] = self._plan(self._layouts[layout_id], metrics, by_key)
            return [index for index, _ in plan]

        for ts_ms, layout_id, values in columns_in_range(rows, start_ms, end_ms, columns_of):
            ts = ts_ms / 1000
            for value, (_, series) in zip(values, plans[layout_id], strict=True):
                series.points.append((ts, value_or_none(value)))
        return sorted(by_key.values(), key=lambda s: (s.metric, sorted(s.labels.items())))

    def series(
        self,
        tenant_id: int,
        host_id: int,
        start_ms: int,
        end_ms: int,
        metrics: Collection[str] | None = None,
        *,
        step_ms: int | None = None,
        agg: str = "avg",
    ) -> TieredSeries:
        """The host's series from the tier that suits the range or step (module doc)."""
        if agg not in AGGREGATES:
            raise ValueError(f"unknown aggregate {agg!r}: one of {', '.join(AGGREGATES)}")
        tier = choose_tier(start_ms, end_ms, step_ms)
        if tier == "raw":
            return TieredSeries(
                "raw", None, agg, self.host_series(tenant_id, host_id, start_ms, end_ms, metrics)
            )
        table = TIER_1M.table if tier == TIER_1M.name else TIER_1H.table
        step = max(step_ms or 0, TIER_STEP_MS[tier])
        step = step // TIER_STEP_MS[tier] * TIER_STEP_MS[tier]  # whole buckets
        found = self.rollup_series(
            table, tenant_id, host_id, start_ms, end_ms, metrics, TIER_STEP_MS[tier], step, agg
        )
        return TieredSeries(tier, step, agg, found)

    def rollup_series(  # noqa: PLR0917 (a query's parameters)
        self,
        table: Table,
        tenant_id: int,
        host_id: int,
        start_ms: int,
        end_ms: int,
        metrics: Collection[str] | None,
        bucket_ms: int,
        step_ms: int,
        agg: str,
    ) -> list[Series]:
        """One point per step (a multiple of the tier's bucket) whose start lies in the range,
        or in the bucket holding start_ms. Buckets the tier has complete come from it (one
        primary-key range scan); the others, not rolled up yet or changed by late data since,
        from the finer tier and the raw frames (module doc, "Stitching")."""
        rows, finer = self._tier_parts(table, tenant_id, host_id, start_ms, end_ms, step_ms)
        by_key: dict[str, Series] = {}
        plans: dict[int, list[tuple[int, Series]]] = {}
        one_layout_per_bucket = len({bucket for bucket, _, _ in rows}) == len(rows)
        if step_ms == bucket_ms and not finer and one_layout_per_bucket:
            # One row per point: read only the wanted series' numbers out of each blob
            # instead of unpacking all four arrays (most of this call's time otherwise).
            for bucket, layout_id, blob in rows:
                plan = plans.get(layout_id)
                if plan is None:
                    plan = plans[layout_id] = self._plan(self._layouts[layout_id], metrics, by_key)
                raw = decompress_frame(blob)
                width = len(raw) // 32  # four float64 arrays
                ts = bucket / 1000
                for index, series in plan:
                    series.points.append((ts, _stats_value(raw, width, index, agg)))
            return sorted(by_key.values(), key=lambda s: (s.metric, sorted(s.labels.items())))
        # Buckets (and the finer parts) merged up to the step, per (step start, layout).
        merged: dict[tuple[int, int], list[Stats]] = {}
        for bucket, layout_id, blob in rows:
            merged.setdefault((bucket // step_ms * step_ms, layout_id), []).append(
                decode_stats(blob)
            )
        for at, layout_id, stats in finer:
            merged.setdefault((at, layout_id), []).append(stats)
        # A series in several layouts of one step (an agent whose sections came and went) is
        # one point: its stats from every layout combined.
        at_step: dict[int, list[tuple[Stats, int]]] = {}  # id(Series) -> its parts
        series_of: dict[int, Series] = {}
        current: int | None = None
        for (start, layout_id), parts in sorted(merged.items()):
            if start != current:
                _emit_points(current, at_step, series_of, agg)
                current = start
            plan = plans.get(layout_id)
            if plan is None:
                plan = plans[layout_id] = self._plan(self._layouts[layout_id], metrics, by_key)
            stats = parts[0] if len(parts) == 1 else merge_stats(parts)
            for index, series in plan:
                at_step.setdefault(id(series), []).append((stats, index))
                series_of[id(series)] = series
        _emit_points(current, at_step, series_of, agg)
        return sorted(by_key.values(), key=lambda s: (s.metric, sorted(s.labels.items())))

    def _tier_parts(  # noqa: PLR0917 (private)
        self,
        table: Table,
        tenant_id: int,
        host_id: int,
        start_ms: int,
        end_ms: int,
        step_ms: int,
    ) -> tuple[list[tuple[int, int, bytes]], list[tuple[int, int, Stats]]]:
        """The tier's complete rows (bucket, layout, stats blob) of the buckets from the one
        holding start_ms to the one holding end_ms, and the finer parts of its incomplete
        buckets as (step start, layout, stats)."""
        bucket_ms = HOUR_MS if table is TIER_1H.table else MINUTE_MS
        first, past = start_ms // bucket_ms * bucket_ms, (end_ms // bucket_ms + 1) * bucket_ms
        with self.engine.connect() as conn:
            dirty_minutes, dirty_hours = dirty_buckets(conn, host_id, first, past)
            stale = dirty_hours if bucket_ms == HOUR_MS else dirty_minutes
            rows: list[tuple[int, int, bytes]] = [
                (bucket, layout_id, blob)
                for bucket, layout_id, blob in conn.execute(
                    select(table.c.bucket_ms, table.c.layout_id, table.c.stats)
                    .where(
                        table.c.tenant_id == tenant_id,
                        table.c.host_id == host_id,
                        table.c.bucket_ms >= first,
                        table.c.bucket_ms < past,
                    )
                    .order_by(table.c.bucket_ms)
                ).all()
                if bucket not in stale
            ]
            finer: list[tuple[int, int, Stats]] = []
            if stale:
                if bucket_ms == HOUR_MS:
                    finer += minute_parts(
                        conn, tenant_id, host_id, dirty_hours, dirty_minutes, step_ms
                    )
                finer += raw_parts(conn, tenant_id, host_id, dirty_minutes, step_ms)
            layout_ids = {layout_id for _, layout_id, _ in rows}
            self._learn_layouts(conn, layout_ids | {layout_id for _, layout_id, _ in finer})
        return rows, finer

    def range_stats(
        self, tenant_id: int, host_id: int, start_ms: int, end_ms: int
    ) -> list[SeriesStats]:
        """Min, max, sum and count of each of the host's series over the whole range, from
        the tier that suits it, stitched like series() (a summary's figures)."""
        tier = choose_tier(start_ms, end_ms)
        parts: dict[int, list[Stats]] = {}
        if tier == "raw":
            with self.engine.connect() as conn:
                f = metric_frames.c
                found = conn.execute(
                    select(f.ts_ms, f.layout_id, f.vals).where(
                        f.tenant_id == tenant_id,
                        f.host_id == host_id,
                        f.ts_ms.between(lookback(start_ms), end_ms),
                    )
                ).all()
                self._learn_layouts(conn, {layout_id for _, layout_id, _ in found})
            frames: dict[int, list[Sequence[float]]] = {}
            for _, layout_id, values in frames_in_range(found, start_ms, end_ms):
                frames.setdefault(layout_id, []).append(values)
            parts = {layout_id: [frames_stats(group)] for layout_id, group in frames.items()}
        else:
            table = TIER_1M.table if tier == TIER_1M.name else TIER_1H.table
            rows, finer = self._tier_parts(
                table, tenant_id, host_id, start_ms, end_ms, TIER_STEP_MS[tier]
            )
            for _, layout_id, blob in rows:
                parts.setdefault(layout_id, []).append(decode_stats(blob))
            for _, layout_id, stats in finer:
                parts.setdefault(layout_id, []).append(stats)
        by_key: dict[str, list[tuple[Stats, int]]] = {}
        for layout_id, stats_parts in parts.items():
            stats = stats_parts[0] if len(stats_parts) == 1 else merge_stats(stats_parts)
            for index, key in enumerate(self._layouts[layout_id]):
                if stats.count[index] > 0:
                    by_key.setdefault(key, []).append((stats, index))
        out = []
        for key, present in sorted(by_key.items()):
            name, labels = split_series_key(key)
            out.append(
                SeriesStats(
                    metric=name,
                    labels=labels,
                    min=min(s.min[i] for s, i in present),
                    max=max(s.max[i] for s, i in present),
                    sum=sum(s.sum[i] for s, i in present),
                    count=round(sum(s.count[i] for s, i in present)),
                )
            )
        return out

    def _learn_layouts(self, conn: Connection, layout_ids: set[int]) -> None:
        missing = layout_ids - self._layouts.keys()
        if missing:
            for layout_id, series_json in conn.execute(
                select(metric_layouts.c.id, metric_layouts.c.series).where(
                    metric_layouts.c.id.in_(missing)
                )
            ):
                self._layouts[layout_id] = decode_layout(series_json)

    @staticmethod
    def _plan(
        keys: list[str], metrics: Collection[str] | None, by_key: dict[str, Series]
    ) -> list[tuple[int, Series]]:
        plan = []
        for index, key in enumerate(keys):
            name, labels = split_series_key(key)
            if metrics is not None and name not in metrics:
                continue
            series = by_key.get(key)
            if series is None:
                series = by_key[key] = Series(name, labels)
            plan.append((index, series))
        return plan
