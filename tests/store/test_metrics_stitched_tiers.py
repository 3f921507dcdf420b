"""A range is answered from the coarsest tier where that tier is complete and from the finer
tiers and raw frames for the rest (issue 14, item 2): a host whose newest hours are not rolled
up yet still shows them on a 7 d or 30 d range. Every point must equal what the raw frames of
its bucket give, on both sides of every tier boundary, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
from msgspec.structs import replace
from sqlalchemy import Engine, select

from fleetscope.digest.transform import agent_payload_rows
from fleetscope.model.payload import Snapshot
from fleetscope.query.metrics import MetricQueries, choose_tier
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.rollup_math import DAY_MS, HOUR_MS, MINUTE_MS
from fleetscope.store.tables import hosts
from fleetscope.store.writer import StoreWriter
from tests.helpers import T0, payload, payload_json, snapshot

T0_MS = round(T0.timestamp() * 1000)
CPU = "cpu_utilization_percent"
STEP_S = 10
DATA_S = 2 * 3600 + 35 * 60  # samples every 10 s from T0 to T0 + 2 h 35 min
NOW_S = T0.timestamp() + 2 * 3600 + 36 * 60
# At NOW: minutes up to T0 + 2 h 33 min have settled and are rolled up; hours up to T0 + 1 h.
HOUR_UNTIL = T0_MS + 2 * HOUR_MS
MINUTE_UNTIL = T0_MS + 2 * HOUR_MS + 34 * MINUTE_MS
LATE_S = 20 * 60 + 5  # a late sample in hour 0, after that hour was rolled up


def _value(i: int) -> float:
    return float(i * 7 % 97)  # whole numbers: every sum is exact in any order


def _layout(second: int, shot: Snapshot) -> Snapshot:
    """Every 7th snapshot without its memory section: a second layout in most buckets, whose
    values must merge with the first one's into one point per step."""
    return replace(shot, memory=None) if second // STEP_S % 7 == 0 else shot


def _write(writer: StoreWriter, seconds: list[int]) -> None:
    for chunk in range(0, len(seconds), 200):
        p = payload(1, batch_id=uuid.uuid4())
        shots = [
            _layout(s, snapshot(T0 + timedelta(seconds=s), cpu_percent=_value(s // STEP_S)))
            for s in seconds[chunk : chunk + 200]
        ]
        writer.write_batches([agent_payload_rows(1, payload_json(replace(p, snapshots=shots)))])


@pytest.fixture
def queries(engine: Engine) -> tuple[MetricQueries, int]:
    now = [NOW_S]
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(engine, writer.partitions, clock=lambda: now[0])
    _write(writer, list(range(0, DATA_S + 1, STEP_S)))
    maintenance.roll_up(force=True)
    _write(writer, [LATE_S])  # marks its minute (and so its hour) dirty again
    with engine.connect() as conn:
        host_id = int(conn.execute(select(hosts.c.id)).scalar_one())
    return MetricQueries(engine), host_id


def _expected(
    raw: list[tuple[float, float | None]], start_ms: int, end_ms: int, bucket_ms: int, step_ms: int
) -> list[tuple[float, float]]:
    """Average per step over the raw samples of the tier buckets from the one holding start_ms
    to the one holding end_ms (what a rolled-up range gives)."""
    first, past = start_ms // bucket_ms * bucket_ms, (end_ms // bucket_ms + 1) * bucket_ms
    buckets: dict[int, list[float]] = defaultdict(list)
    for ts, value in raw:
        ms = round(ts * 1000)
        if first <= ms < past and value is not None:
            buckets[ms // step_ms * step_ms].append(value)
    return [(b / 1000, sum(v) / len(v)) for b, v in sorted(buckets.items())]


BOUNDARIES = [T0_MS, T0_MS + HOUR_MS, HOUR_UNTIL, MINUTE_UNTIL, T0_MS + LATE_S * 1000]


@pytest.mark.parametrize("step_ms", [None, MINUTE_MS, 5 * MINUTE_MS, HOUR_MS, 2 * HOUR_MS])
def test_every_point_equals_the_raw_frames_across_each_boundary(
    queries: tuple[MetricQueries, int], step_ms: int | None
) -> None:
    metric_queries, host_id = queries
    raw = metric_queries.host_series(1, host_id, T0_MS - DAY_MS, T0_MS + DAY_MS, {CPU})[0].points
    edges = [b + d for b in BOUNDARIES for d in (-1, 0, MINUTE_MS)]
    ranges = [(s, e) for s in edges for e in edges if s <= e]
    ranges += [(e - 30 * DAY_MS, e) for e in edges] + [(e - 2 * DAY_MS, e) for e in edges]
    for start, end in ranges:
        found = metric_queries.series(1, host_id, start, end, {CPU}, step_ms=step_ms)
        if found.tier == "raw":
            continue
        bucket = MINUTE_MS if found.tier == "1m" else HOUR_MS
        assert found.step_ms is not None
        expected = _expected(raw, start, end, bucket, found.step_ms)
        got = found.series[0].points if found.series else []
        assert got == expected, (found.tier, found.step_ms, start - T0_MS, end - T0_MS)


def test_long_ranges_show_the_hours_not_rolled_up_yet(queries: tuple[MetricQueries, int]) -> None:
    metric_queries, host_id = queries
    end = T0_MS + DATA_S * 1000
    for days, tier in ((7, "1h"), (30, "1h"), (2, "1m")):
        assert choose_tier(end - days * DAY_MS, end) == tier
        found = metric_queries.series(1, host_id, end - days * DAY_MS, end, {CPU})
        points = found.series[0].points
        assert points[-1][0] * 1000 == end // (HOUR_MS if tier == "1h" else MINUTE_MS) * (
            HOUR_MS if tier == "1h" else MINUTE_MS
        )
        assert sum(1 for _, v in points if v is not None) == len(points)


@pytest.mark.parametrize("agg", ["min", "max", "sum", "count"])
def test_every_aggregate_is_stitched(queries: tuple[MetricQueries, int], agg: str) -> None:
    metric_queries, host_id = queries
    raw = metric_queries.host_series(1, host_id, T0_MS - DAY_MS, T0_MS + DAY_MS, {CPU})[0].points
    end = T0_MS + DATA_S * 1000
    found = metric_queries.series(1, host_id, end - 30 * DAY_MS, end, {CPU}, agg=agg)
    by_hour: dict[int, list[float]] = defaultdict(list)
    for ts, value in raw:
        assert value is not None
        by_hour[round(ts * 1000) // HOUR_MS * HOUR_MS].append(value)
    fold = {"min": min, "max": max, "sum": sum, "count": len}[agg]
    assert found.series[0].points == [
        (h / 1000, float(fold(v))) for h, v in sorted(by_hour.items())
    ]
