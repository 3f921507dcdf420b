"""Rollup tiers: the pure math, late data, replays, tier choice, retention per tier, and several
workers at once (store/rollups.py, query/metrics.py)."""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, Table, func, select

from fleetscope.cli.settings import ServerSettings
from fleetscope.digest.transform import agent_payload_rows, aggregator_rows
from fleetscope.query.metrics import MetricQueries, choose_tier
from fleetscope.store.frames import NAN
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.rollup_math import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Stats,
    decode_stats,
    encode_stats,
    frames_stats,
    merge_stats,
)
from fleetscope.store.rollups import Rollups
from fleetscope.store.tables import (
    hosts,
    metric_frames,
    metric_layouts,
    metric_rollups_1h,
    metric_rollups_1m,
    rollup_dirty,
)
from fleetscope.store.writer import StoreWriter
from tests.helpers import T0, payload, payload_json
from tests.server import LiveServer

T0_MS = round(T0.timestamp() * 1000)
CPU = "cpu_utilization_percent"


def _as_lists(stats: Stats) -> list[list[float]]:
    return [list(a) for a in (stats.min, stats.max, stats.sum, stats.count)]


def test_frames_stats_skip_absent_values() -> None:
    stats = frames_stats([[1.0, NAN, 5.0], [3.0, NAN, NAN], [2.0, NAN, 7.0]])
    assert list(stats.min)[0::2] == [1.0, 5.0] and math.isnan(stats.min[1])
    assert list(stats.max)[0::2] == [3.0, 7.0] and math.isnan(stats.max[1])
    assert list(stats.sum) == [6.0, 0.0, 12.0]
    assert list(stats.count) == [3.0, 0.0, 2.0]


def test_merged_minutes_equal_the_hour_computed_at_once() -> None:
    frames = [[float(i), NAN if i % 3 else float(-i), 100.0 - i] for i in range(12)]
    whole = frames_stats(frames)
    parts = merge_stats([frames_stats(frames[i : i + 4]) for i in range(0, 12, 4)])
    assert _as_lists(parts)[2:] == _as_lists(whole)[2:]
    assert list(parts.min) == list(whole.min) and list(parts.max) == list(whole.max)
    empty = merge_stats([frames_stats([[NAN]]), frames_stats([[NAN]])])
    assert list(empty.count) == [0.0] and math.isnan(empty.min[0])


def test_stats_blob_round_trips() -> None:
    stats = frames_stats([[1.5, -2.0], [0.5, 4.0]])
    assert _as_lists(decode_stats(encode_stats(stats))) == _as_lists(stats)


NOW = [T0_MS / 1000 + 7200]


@pytest.fixture
def writer(engine: Engine) -> StoreWriter:
    NOW[0] = T0_MS / 1000 + 7200  # T0's hour has settled
    return StoreWriter(engine)


@pytest.fixture
def maintenance(engine: Engine, writer: StoreWriter) -> StoreMaintenance:
    return StoreMaintenance(engine, writer.partitions, clock=lambda: NOW[0])


def _write(writer: StoreWriter, n: int, start_s: float = 0, batch: str | None = None) -> None:
    import uuid  # noqa: PLC0415

    p = payload(
        n,
        start=T0 + timedelta(seconds=start_s),
        batch_id=uuid.UUID(batch) if batch else None,
    )
    writer.write_batches([agent_payload_rows(1, payload_json(p))])


def _cpu(engine: Engine, table: Table, bucket_ms: int) -> tuple[float, float, float, float]:
    """min, max, sum, count of cpu_utilization_percent in one bucket (one layout)."""
    with engine.connect() as conn:
        blob, series = conn.execute(
            select(table.c.stats, metric_layouts.c.series)
            .join(metric_layouts, metric_layouts.c.id == table.c.layout_id)
            .where(table.c.bucket_ms == bucket_ms)
        ).one()
    position = json.loads(series).index(CPU)
    stats = decode_stats(blob)
    return (
        stats.min[position],
        stats.max[position],
        stats.sum[position],
        stats.count[position],
    )


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_late_data_recomputes_a_bucket_already_rolled_up(
    engine: Engine, writer: StoreWriter, maintenance: StoreMaintenance
) -> None:
    _write(writer, 3)  # cpu 10, 11, 12 at T0, +10 s, +20 s
    maintenance.roll_up(force=True)
    assert _cpu(engine, metric_rollups_1m, T0_MS) == (10.0, 12.0, 33.0, 3.0)
    assert _cpu(engine, metric_rollups_1h, T0_MS) == (10.0, 12.0, 33.0, 3.0)
    _write(writer, 3, start_s=30)  # late: cpu 10, 11, 12 at +30 s .. +50 s
    assert _cpu(engine, metric_rollups_1m, T0_MS)[3] == 3.0  # not yet recomputed
    result = maintenance.roll_up(force=True)
    assert result is not None and result.buckets == 2  # the minute, then its hour
    assert _cpu(engine, metric_rollups_1m, T0_MS) == (10.0, 12.0, 66.0, 6.0)
    assert _cpu(engine, metric_rollups_1h, T0_MS) == (10.0, 12.0, 66.0, 6.0)
    assert _count(engine, rollup_dirty) == 0


def test_late_data_before_the_step_ran_is_in_the_first_rollup(
    engine: Engine, writer: StoreWriter, maintenance: StoreMaintenance
) -> None:
    _write(writer, 3, start_s=30)
    _write(writer, 3)  # older data arrives second (a spool's replay)
    _write(writer, 6, start_s=300)  # another minute
    maintenance.roll_up(force=True)
    assert _cpu(engine, metric_rollups_1m, T0_MS) == (10.0, 12.0, 66.0, 6.0)
    assert _cpu(engine, metric_rollups_1m, T0_MS + 5 * MINUTE_MS) == (10.0, 15.0, 75.0, 6.0)
    assert _cpu(engine, metric_rollups_1h, T0_MS) == (10.0, 15.0, 141.0, 12.0)


def test_replays_do_not_double_counts(
    engine: Engine, writer: StoreWriter, maintenance: StoreMaintenance
) -> None:
    batch = "00000000-0000-4000-8000-000000000001"
    _write(writer, 3, batch=batch)
    maintenance.roll_up(force=True)
    _write(writer, 3, batch=batch)  # the same batch again: skipped whole
    _write(writer, 3)  # the same snapshots in a new batch: frames already stored
    maintenance.roll_up(force=True)
    maintenance.roll_up(force=True)
    assert _cpu(engine, metric_rollups_1m, T0_MS) == (10.0, 12.0, 33.0, 3.0)
    assert _cpu(engine, metric_rollups_1h, T0_MS) == (10.0, 12.0, 33.0, 3.0)


def test_unsettled_buckets_wait(
    engine: Engine, writer: StoreWriter, maintenance: StoreMaintenance
) -> None:
    NOW[0] = T0_MS / 1000 + 90  # T0's minute ended 30 s ago: agents may still be sending
    _write(writer, 3)
    maintenance.roll_up(force=True)
    assert _count(engine, metric_rollups_1m) == 0
    NOW[0] = T0_MS / 1000 + 200
    maintenance.roll_up(force=True)
    assert _count(engine, metric_rollups_1m) == 1
    assert _count(engine, metric_rollups_1h) == 0  # its hour has not ended


def test_tier_choice_by_range_and_step() -> None:
    assert choose_tier(0, 6 * HOUR_MS) == "raw"
    assert choose_tier(0, 6 * HOUR_MS + 1) == "1m"
    assert choose_tier(0, 3 * DAY_MS) == "1m"
    assert choose_tier(0, 30 * DAY_MS) == "1h"
    assert choose_tier(0, 30 * DAY_MS, step_ms=10_000) == "raw"
    assert choose_tier(0, 30 * DAY_MS, step_ms=5 * MINUTE_MS) == "1m"
    assert choose_tier(0, HOUR_MS, step_ms=HOUR_MS) == "1h"


def _host_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(hosts.c.id)).scalar_one())


def test_queries_read_the_tier_for_the_range(
    engine: Engine, writer: StoreWriter, maintenance: StoreMaintenance
) -> None:
    _write(writer, 12)  # cpu 10..21, two minutes of 10 s samples
    maintenance.roll_up(force=True)
    queries = MetricQueries(engine)
    host = _host_id(engine)

    def points(span_ms: int, **kw: object) -> tuple[str, int | None, list[tuple[float, float]]]:
        found = queries.series(1, host, T0_MS, T0_MS + span_ms, {CPU}, **kw)  # type: ignore[arg-type]
        (series,) = found.series
        return found.tier, found.step_ms, series.points  # type: ignore[return-value]

    tier, step, raw = points(HOUR_MS)
    assert (tier, step, len(raw)) == ("raw", None, 12)
    assert points(2 * DAY_MS) == (
        "1m",
        MINUTE_MS,
        [(T0_MS / 1000, 12.5), (T0_MS / 1000 + 60, 18.5)],
    )
    assert points(2 * DAY_MS, agg="max")[2] == [(T0_MS / 1000, 15.0), (T0_MS / 1000 + 60, 21.0)]
    assert points(2 * DAY_MS, agg="count")[2] == [(T0_MS / 1000, 6.0), (T0_MS / 1000 + 60, 6.0)]
    assert points(30 * DAY_MS) == ("1h", HOUR_MS, [(T0_MS / 1000, 15.5)])
    assert points(HOUR_MS, step_ms=5 * MINUTE_MS) == ("1m", 5 * MINUTE_MS, [(T0_MS / 1000, 15.5)])
    with pytest.raises(ValueError, match="aggregate"):
        queries.series(1, host, T0_MS, T0_MS + DAY_MS, agg="median")


def _buckets(engine: Engine, table: Table) -> set[int]:
    column = table.c.ts_ms if table is metric_frames else table.c.bucket_ms
    with engine.connect() as conn:
        return {int(ts) // DAY_MS for ts in conn.execute(select(column)).scalars()}


def test_retention_per_tier_and_raw_rolled_up_before_it_goes(engine: Engine) -> None:
    now = [T0_MS / 1000 + 3600]
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(
        engine,
        writer.partitions,
        raw_retention_days=1,
        rollup_1m_retention_days=2,
        rollup_1h_retention_days=3,
        clock=lambda: now[0],
    )
    for days in (5, 2.5, 1.5, 0):
        _write(writer, 2, start_s=-days * 86_400)
    # No rollup step ran: maintenance rolls up what it is about to drop.
    result = maintenance.maintain()
    day = T0_MS // DAY_MS
    assert _buckets(engine, metric_frames) == {day}
    # Maintenance rolled up only what raw retention was about to drop, not today's minute.
    assert _buckets(engine, metric_rollups_1m) == {day - 2}
    assert _buckets(engine, metric_rollups_1h) == {day - 3, day - 2}
    assert result.rollup_rows_deleted == 3  # 5 and 2.5 days ago of 1m, 5 days ago of 1h
    maintenance.roll_up(force=True)
    assert _buckets(engine, metric_rollups_1m) == {day - 2, day}


def test_retention_settings_keep_coarser_tiers_longer() -> None:
    ServerSettings(raw_retention_days=7, rollup_1m_retention_days=7, rollup_1h_retention_days=None)
    with pytest.raises(ValueError, match="rollup_1m_retention_days"):
        ServerSettings(raw_retention_days=30, rollup_1m_retention_days=10)
    with pytest.raises(ValueError, match="rollup_1h_retention_days"):
        ServerSettings(rollup_1m_retention_days=None, rollup_1h_retention_days=10)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_several_workers_share_the_buckets(engine: Engine, writer: StoreWriter) -> None:
    for minute in range(120):  # two hours of one sample a minute, 120 dirty minutes
        _write(writer, 1, start_s=minute * 60)
    NOW[0] = T0_MS / 1000 + 4 * 3600
    workers = [Rollups(engine, batch_buckets=7, clock=lambda: NOW[0]) for _ in range(4)]
    errors: list[BaseException] = []
    done = [0] * len(workers)

    def run(n: int) -> None:
        try:
            for _ in range(60):
                done[n] += workers[n].run(max_rounds=1).buckets
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(workers))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert time.monotonic() - started < 120
    assert sum(done) >= 120  # each minute once; hours possibly again after a re-mark
    # An hour re-marked by a worker's last round may be left: one more round takes it.
    workers[0].run()
    assert _count(engine, rollup_dirty) == 0
    assert _count(engine, metric_rollups_1m) == 120
    assert _cpu(engine, metric_rollups_1h, T0_MS) == (10.0, 10.0, 600.0, 60.0)
    assert _cpu(engine, metric_rollups_1h, T0_MS + HOUR_MS) == (10.0, 10.0, 600.0, 60.0)


def test_report_api_answers_from_the_tier_it_names(live: LiveServer) -> None:
    response = live.client.post(
        "/api/v1/ingest", content=payload_json(payload(12)), headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    live.wait_digested()
    user = live.user_headers()
    params = {"start_time": str(T0_MS / 1000), "end_time": str(T0_MS / 1000 + 2 * 86_400)}
    deadline = time.monotonic() + 30
    body: dict[str, object] = {}
    while time.monotonic() < deadline:  # the digest loop rolls up every 10 s
        body = live.client.get(
            "/api/v1/reports/metrics/web-1", params={**params, "metrics": CPU}, headers=user
        ).json()
        if body["series"]:
            break
        time.sleep(0.5)
    assert (body["tier"], body["step_seconds"], body["agg"]) == ("1m", 60.0, "avg")
    assert body["series"][0]["points"] == [[T0_MS / 1000, 12.5], [T0_MS / 1000 + 60, 18.5]]  # type: ignore[index]
    hourly = live.client.get(
        "/api/v1/reports/metrics/web-1",
        params={**params, "metrics": CPU, "step": "1h", "agg": "min"},
        headers=user,
    ).json()
    assert hourly["tier"] == "1h" or hourly["series"] == []  # the hour may still be settling
    bad = live.client.get(
        "/api/v1/reports/metrics/web-1", params={**params, "step": "soon"}, headers=user
    )
    assert bad.status_code == 400
    raw = live.client.get(
        "/api/v1/reports/metrics/web-1",
        params={"start_time": str(T0_MS / 1000), "end_time": str(T0_MS / 1000 + 60)},
        headers=user,
    ).json()
    assert (raw["tier"], raw["step_seconds"]) == ("raw", None)


def test_aggregator_samples_are_rolled_up_too(
    engine: Engine, writer: StoreWriter, maintenance: StoreMaintenance
) -> None:
    """Batches without a batch id (aggregator pushes) mark their minutes like agent batches."""
    body = json.dumps(
        {
            "metrics": [
                {
                    "device_name": "sensor-1",
                    "metric_name": "temp_celsius",
                    "value": v,
                    "timestamp": T0_MS / 1000 + s,
                }
                for s, v in ((0, 20.0), (20, 22.0), (40, 24.0))
            ]
        }
    ).encode()
    writer.write_batches(aggregator_rows(1, body))
    maintenance.roll_up(force=True)
    with engine.connect() as conn:
        blob, series = conn.execute(
            select(metric_rollups_1m.c.stats, metric_layouts.c.series)
            .join(metric_layouts, metric_layouts.c.id == metric_rollups_1m.c.layout_id)
            .where(metric_rollups_1m.c.bucket_ms == T0_MS)
        ).one()
    stats = decode_stats(blob)
    position = json.loads(series).index("temp_celsius")
    assert (stats.min[position], stats.max[position], stats.count[position]) == (20.0, 24.0, 3.0)
    assert _count(engine, rollup_dirty) == 0


def test_digest_rolls_up_in_slices_between_batches(engine: Engine) -> None:
    """Unforced, roll_up does one slice per tier (here 2 buckets) and keeps going at every
    call while the last slice was full, then waits for the rollup interval again."""
    NOW[0] = T0_MS / 1000 + 7200
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(engine, clock=lambda: NOW[0], rollup_slice_buckets=2)
    _write(writer, 30)  # every 10 s for 5 minutes: 5 dirty minutes
    minutes = []
    for _ in range(4):
        result = maintenance.roll_up()
        assert result is not None
        minutes.append(_count(engine, metric_rollups_1m))
    assert minutes == [2, 4, 5, 5]  # the last call found nothing and ended the backlog
    assert _count(engine, rollup_dirty) == 0
    assert maintenance.roll_up() is None  # not due until the interval has passed
    NOW[0] += 10
    assert maintenance.roll_up() is not None
    # The slices add up to what one forced run computes.
    assert _cpu(engine, metric_rollups_1h, T0_MS)[3] == 30.0
