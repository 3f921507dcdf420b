"""Which buckets a rollup tier lacks or holds out of date for a host, and the finer data that
stands in for them (query/metrics.py, "Stitching"; docs/data-model.md, "Tiers")."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, or_, select

from fleetscope.store.chunks import frames_in_range, lookback
from fleetscope.store.rollup_math import HOUR_MS, MINUTE_MS, Stats, decode_stats, frames_stats
from fleetscope.store.tables import metric_frames, metric_rollups_1m, rollup_dirty

# Bucket runs further apart than this are read by separate ranges; more ranges than
# _MAX_SPANS are read as one (late data scattered over a long range is rare and short-lived).
_MAX_SPANS = 32


def spans(buckets: set[int], size_ms: int) -> list[tuple[int, int]]:
    """Sorted buckets as [start, end) ranges of adjacent buckets."""
    spans: list[list[int]] = []
    for bucket in sorted(buckets):
        if spans and bucket <= spans[-1][1]:
            spans[-1][1] = bucket + size_ms
        else:
            spans.append([bucket, bucket + size_ms])
    if len(spans) > _MAX_SPANS:
        return [(spans[0][0], spans[-1][1])]
    return [(lo, hi) for lo, hi in spans]


def dirty_buckets(
    conn: Connection, host_id: int, first: int, past: int
) -> tuple[set[int], set[int]]:
    """The host's minutes and hours in [first, past) that their tier lacks or holds out of
    date: the writer marks every minute it stores frames in until the 1-minute step has rolled
    it up, which marks the hour until the 1-hour step has (store/rollups.py). An hour that
    holds a dirty minute is dirty too."""
    d = rollup_dirty.c
    found = conn.execute(
        select(d.step_ms, d.bucket_ms).where(
            d.step_ms.in_((MINUTE_MS, HOUR_MS)),
            d.bucket_ms >= first // HOUR_MS * HOUR_MS,
            d.bucket_ms < past,
            d.host_id == host_id,
        )
    ).all()
    minutes = {int(b) for step, b in found if step == MINUTE_MS and first <= b < past}
    hours = {int(b) for step, b in found if step == HOUR_MS and first <= b < past}
    return minutes, hours | {m // HOUR_MS * HOUR_MS for m in minutes}


def minute_parts(  # noqa: PLR0917 (one caller)
    conn: Connection,
    tenant_id: int,
    host_id: int,
    hours: set[int],
    dirty_minutes: set[int],
    step_ms: int,
) -> list[tuple[int, int, Stats]]:
    """The 1-minute rows of hours the hour tier lacks, but for minutes that are dirty
    themselves (read raw), as (step start, layout, stats)."""
    m = metric_rollups_1m.c
    found = conn.execute(
        select(m.bucket_ms, m.layout_id, m.stats).where(
            m.tenant_id == tenant_id,
            m.host_id == host_id,
            or_(*(m.bucket_ms.between(lo, hi - 1) for lo, hi in spans(hours, HOUR_MS))),
        )
    ).all()
    return [
        (bucket // step_ms * step_ms, layout_id, decode_stats(blob))
        for bucket, layout_id, blob in found
        if bucket not in dirty_minutes
    ]


def raw_parts(
    conn: Connection, tenant_id: int, host_id: int, minutes: set[int], step_ms: int
) -> list[tuple[int, int, Stats]]:
    """The raw frames of minutes not rolled up (or changed since), as (step start, layout,
    stats)."""
    if not minutes:
        return []
    f = metric_frames.c
    found = conn.execute(
        select(f.ts_ms, f.layout_id, f.vals).where(
            f.tenant_id == tenant_id,
            f.host_id == host_id,
            or_(*(f.ts_ms.between(lookback(lo), hi - 1) for lo, hi in spans(minutes, MINUTE_MS))),
        )
    ).all()
    frames: dict[tuple[int, int], list[Sequence[float]]] = {}
    in_range = frames_in_range(found, min(minutes), max(minutes) + MINUTE_MS - 1)
    for ts_ms, layout_id, values in in_range:
        if ts_ms // MINUTE_MS * MINUTE_MS in minutes:
            frames.setdefault((ts_ms // step_ms * step_ms, layout_id), []).append(values)
    return [(at, layout_id, frames_stats(group)) for (at, layout_id), group in frames.items()]
