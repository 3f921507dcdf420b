"""FleetQueries and MetricQueries' rollup reads, on SQLite and PostgreSQL: the summary reads
the 1-hour and 1-minute tiers and raw frames only after the newest rolled-up minute, without
counting a snapshot twice; late data that changes a rollup is seen; the overview's cache picks
up new and slightly late frames (query/fleet.py); a rollup point read straight from its blob
equals the decoded one (query/metrics.py)."""

from __future__ import annotations

import itertools
import statistics

import pytest
from sqlalchemy import Engine, delete

from fleetscope.query.fleet import FleetQueries
from fleetscope.query.metrics import AGGREGATES, _stats_value
from fleetscope.store.chunks import lookback
from fleetscope.store.frames import NAN, decompress_frame
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.rollup_math import HOUR_MS, MINUTE_MS, encode_stats, frames_stats, value_of
from fleetscope.store.tables import metric_frames
from fleetscope.store.writer import BatchRows, FrameRow, StoreWriter

KEYS = ("cpu_utilization_percent", "memory_total_bytes", "memory_used_bytes")
# 10:30:15 UTC on a fixed day: the range below crosses two whole hours and two partial ones.
NOW_MS = 1_795_000_000_000 // HOUR_MS * HOUR_MS + 30 * MINUTE_MS + 15_000
_batch = itertools.count()


def cpu_at(ts_ms: int, host: int) -> float:
    return float((ts_ms // 20_000) % 11 * 9 + host)


def write(writer: StoreWriter, host: int, times: list[int], cpu: float | None = None) -> None:
    frames = tuple(
        FrameRow(t, KEYS, (cpu_at(t, host) if cpu is None else cpu, 8e9, 2e9 + host * 1e9))
        for t in times
    )
    writer.write_batches(
        [BatchRows(1, f"m-{host}", f"host-{host}", "test", f"b-{next(_batch)}", frames)]
    )


CLOCK = [NOW_MS / 1000]


@pytest.fixture
def writer(engine: Engine) -> StoreWriter:
    CLOCK[0] = NOW_MS / 1000
    return StoreWriter(engine)


def test_summary_reads_the_tiers_and_counts_each_snapshot_once(
    engine: Engine, writer: StoreWriter
) -> None:
    rollups = StoreMaintenance(engine, writer.partitions, clock=lambda: CLOCK[0]).rollups
    every_20s = list(range(NOW_MS - 4 * HOUR_MS, NOW_MS + 1, 20_000))
    for host in (0, 1):
        write(writer, host, every_20s)
    result = rollups.run()
    assert result.buckets > 0
    start_ms = NOW_MS - 2 * HOUR_MS - 20 * MINUTE_MS - 5_000  # 08:10:10: from 08:00 on
    first = start_ms // HOUR_MS * HOUR_MS
    # revalidate_ms=0: every call reads all hour rows again, so the late recomputation below
    # is seen at once (by default within REVALIDATE_MS).
    fleet = FleetQueries(engine, revalidate_ms=0)
    summary = fleet.summary(1, start_ms, NOW_MS, NOW_MS)
    expected = {
        host: statistics.fmean(cpu_at(t, host) for t in every_20s if t >= first) for host in (0, 1)
    }
    by_host = {h.name: h.averages for h in summary.worst["cpu_percent"]}
    assert by_host["host-0"].cpu_percent == pytest.approx(expected[0])
    assert by_host["host-1"].cpu_percent == pytest.approx(expected[1])
    assert by_host["host-1"].memory_percent == pytest.approx(100 * 3e9 / 8e9)
    assert summary.averages.cpu_percent == pytest.approx(statistics.fmean(expected.values()))
    assert summary.counts == {"live": 2, "stale": 0, "offline": 0}
    # With the default revalidation, a shorter range in between (it drops the older hours
    # from memory) changes nothing.
    steady = FleetQueries(engine)
    assert steady.summary(1, start_ms, NOW_MS, NOW_MS) == summary
    steady.summary(1, NOW_MS - HOUR_MS, NOW_MS, NOW_MS)
    assert steady.summary(1, start_ms, NOW_MS, NOW_MS) == summary

    # A late snapshot in a rolled-up minute: once the minute and its hour are recomputed, the
    # same FleetQueries (its cache holds the old rows) reports it.
    late = NOW_MS - HOUR_MS - 17 * MINUTE_MS + 5_000
    write(writer, 0, [late], cpu=1000.0)
    rollups.run()
    # Raw frames older than 10 minutes gone, as after raw retention: what the summary reports
    # for them can only come from the tiers.
    with engine.begin() as conn:
        # As retention does (store/partitions.py): the rows holding only older snapshots.
        old = metric_frames.c.ts_ms < lookback(NOW_MS - 10 * MINUTE_MS)
        conn.execute(delete(metric_frames).where(old))
    again = fleet.summary(1, start_ms, NOW_MS, NOW_MS)
    host_0 = next(h for h in again.worst["cpu_percent"] if h.name == "host-0")
    with_late = [cpu_at(t, 0) for t in every_20s if t >= first] + [1000.0]
    assert host_0.averages.cpu_percent == pytest.approx(statistics.fmean(with_late))

    # Five minutes on: the new minutes are added to what the same FleetQueries summed.
    later = list(range(NOW_MS + 20_000, NOW_MS + 5 * MINUTE_MS + 1, 20_000))
    write(writer, 0, later)
    CLOCK[0] += 5 * 60
    rollups.run()
    end = NOW_MS + 5 * MINUTE_MS
    third = fleet.summary(1, start_ms, end, end)
    host_0 = next(h for h in third.worst["cpu_percent"] if h.name == "host-0")
    with_later = with_late + [cpu_at(t, 0) for t in later]
    assert host_0.averages.cpu_percent == pytest.approx(statistics.fmean(with_later))


def test_summary_without_rollups_reads_raw_frames(engine: Engine, writer: StoreWriter) -> None:
    """Nothing rolled up yet (a new server, or rollups behind): raw frames carry the range."""
    times = list(range(NOW_MS - 30 * MINUTE_MS, NOW_MS + 1, 10_000))
    write(writer, 3, times)
    summary = FleetQueries(engine).summary(1, NOW_MS - HOUR_MS, NOW_MS, NOW_MS)
    [host] = summary.worst["cpu_percent"]
    assert host.averages.cpu_percent == pytest.approx(statistics.fmean(cpu_at(t, 3) for t in times))


def test_overview_cache_sees_new_and_slightly_late_frames(
    engine: Engine, writer: StoreWriter
) -> None:
    fleet = FleetQueries(engine)
    write(writer, 5, [NOW_MS - 30_000, NOW_MS - 20_000], cpu=10.0)
    [first] = fleet.overview(1, NOW_MS)
    assert [v.cpu_percent for _, v in first.spark] == [10.0, 10.0]
    write(writer, 5, [NOW_MS], cpu=30.0)
    write(writer, 5, [NOW_MS - 10_000], cpu=20.0)  # committed after a newer frame
    [second] = fleet.overview(1, NOW_MS)
    assert second.latest is not None and second.latest.cpu_percent == 30.0
    assert [v.cpu_percent for _, v in second.spark] == [10.0, 10.0, 20.0, 30.0]
    assert second.interval_seconds == 10
    # Frames that slide out of the 10-minute window leave the sparkline.
    write(writer, 5, [NOW_MS + 11 * MINUTE_MS], cpu=40.0)
    [third] = fleet.overview(1, NOW_MS + 11 * MINUTE_MS)
    assert [v.cpu_percent for _, v in third.spark] == [40.0]


def test_a_rollup_point_read_from_the_blob_equals_value_of() -> None:
    stats = frames_stats([[1.0, NAN, 5.0], [3.0, NAN, 9.0], [2.0, NAN, NAN]])
    raw = decompress_frame(encode_stats(stats))
    for agg in AGGREGATES:
        for index in range(3):
            assert _stats_value(raw, 3, index, agg) == value_of(stats, index, agg), (agg, index)
    with pytest.raises(ValueError, match="aggregate"):
        _stats_value(raw, 3, 0, "median")
