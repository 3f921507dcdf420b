"""The fleet's rules apart from SQL (query/status.py, headline.py, sparkline.py, averages.py,
sections.py, points.py): each checked on its own, without a database."""

from __future__ import annotations

import math

import pytest

from fleetscope.query.averages import HostSums, Totals, summarise
from fleetscope.query.fleet import FleetHost
from fleetscope.query.headline import Headline, HeadlinePlan, merge
from fleetscope.query.layouts import Layouts
from fleetscope.query.metrics import Series
from fleetscope.query.points import SeriesIndex, aligned, combine, mean
from fleetscope.query.sections import Section, place
from fleetscope.query.sparkline import SPARK_POINTS, SPARK_SLOT_MS, HostWindow, RowRef, firsts
from fleetscope.query.status import DEFAULT_INTERVAL_MS, Status, interval_ms
from fleetscope.store.chunks import encode_chunk
from fleetscope.store.engine import datetime_of_ms
from fleetscope.store.frames import encode_frame
from fleetscope.store.rollup_math import HOUR_MS

KEYS = [
    "cpu_utilization_percent",
    "memory_used_bytes",
    "memory_total_bytes",
    'filesystem_used_bytes{mountpoint="/"}',
    'filesystem_avail_bytes{mountpoint="/"}',
    'filesystem_readonly{mountpoint="/"}',
    'filesystem_used_bytes{mountpoint="/snap"}',
    'filesystem_avail_bytes{mountpoint="/snap"}',
    'filesystem_readonly{mountpoint="/snap"}',
    'network_receive_bytes_per_second{device="eth0"}',
    'network_transmit_bytes_per_second{device="eth0"}',
    'network_receive_bytes_per_second{device="lo"}',
]
NAN = math.nan


def test_the_interval_is_the_median_gap_and_ten_seconds_before_two_samples() -> None:
    assert interval_ms([]) == interval_ms([5]) == DEFAULT_INTERVAL_MS
    assert interval_ms([0, 10_000, 20_000, 80_000]) == 10_000
    assert interval_ms([0, 0, 30_000, 30_000, 60_000]) == 30_000  # repeats are no gaps


def test_the_headline_leaves_out_read_only_mounts_loopback_and_absent_values() -> None:
    plan = HeadlinePlan.of(KEYS)
    raw = [50.0, 2e9, 8e9, 60.0, 20.0, 0.0, 10.0, 0.0, 1.0, 1000.0, 500.0, 99_999.0]
    assert plan.headline(raw) == Headline(50.0, 25.0, 75.0, 1500.0)
    gone = [NAN, 2e9, 0.0, NAN, 20.0, 0.0, 10.0, 0.0, 1.0, NAN, NAN, 99_999.0]
    assert plan.headline(gone) == Headline(None, None, None, None)
    assert HeadlinePlan.of(["cpu_load1"]).headline([1.0]) == Headline(None, None, None, None)


def test_merging_two_layouts_keeps_the_first_value_present() -> None:
    a, b = Headline(1.0, None, None, 4.0), Headline(9.0, 2.0, 3.0, None)
    assert merge(a, b) == Headline(1.0, 2.0, 3.0, 4.0)


def _layouts() -> Layouts:
    layouts = Layouts()
    layouts.keys[1] = KEYS
    layouts.plans[1] = HeadlinePlan.of(KEYS)
    return layouts


def _frame(ts_ms: int, cpu: float) -> RowRef:
    """A row of one snapshot, as written before chunks (store/chunks.py, format 0)."""
    return RowRef(ts_ms, 1, encode_frame([cpu, 2e9, 8e9, *[None] * 9]))


def test_a_window_picks_the_first_frame_of_each_slot_and_always_the_newest() -> None:
    window = HostWindow()
    times = [i * 5_000 for i in range(SPARK_POINTS * 4)]  # 4 frames per 20 s slot
    for ts_ms in times:
        window.add(ts_ms, 1, _frame(ts_ms, ts_ms / 1000))
    assert window.firsts == firsts(times)
    assert window.picks() == [*times[::4], times[-1]]
    interval, points = window.sparkline(_layouts())
    assert interval == 5_000
    assert [t for t, _ in points] == [t / 1000 for t in window.picks()]
    assert points[-1][1] == Headline(times[-1] / 1000, 25.0, None, None)
    assert window.sparkline(_layouts()) is window.spark  # kept until the window changes


def test_a_late_frame_is_sorted_in_and_old_frames_are_forgotten() -> None:
    window = HostWindow()
    for ts_ms in (0, 40_000, 20_000, 20_000):  # out of order, and a repeat
        window.add(ts_ms, 1, _frame(ts_ms, 1.0))
    assert window.times == [0, 20_000, 40_000] and window.known_ms == 40_000
    assert window.firsts == [0, 20_000, 40_000]  # one per SPARK_SLOT_MS slot
    assert SPARK_SLOT_MS == 20_000
    window.forget_before(30_000)
    assert window.times == window.firsts == [40_000] and list(window.parts) == [40_000]
    assert window.headline(40_000, _layouts()) == Headline(1.0, 25.0, None, None)


def test_totals_weigh_each_value_by_its_snapshots() -> None:
    total = Totals()
    assert total.means() is None
    total.add(3, Headline(10.0, None, 50.0, None))
    other = Totals()
    other.add(1, Headline(50.0, 40.0, None, None))
    total.merge(other)
    assert total.means() == Headline(20.0, 40.0, 50.0, None)


def test_hour_totals_sum_the_range_and_say_where_the_hours_end() -> None:
    sums = HostSums()
    sums.hours[(0, 0)] = (60, Headline(10.0, None, None, None))
    sums.hours[(HOUR_MS, 0)] = (60, Headline(30.0, None, None, None))
    sums.hours[(5 * HOUR_MS, 0)] = (60, Headline(99.0, None, None, None))
    total, covered = sums.hour_totals(0, 2 * HOUR_MS)
    assert total.means() == Headline(20.0, None, None, None) and covered == 2 * HOUR_MS
    assert sums.hour_totals(3 * HOUR_MS, 4 * HOUR_MS)[1] == 3 * HOUR_MS  # none: from the start


def _host(host_id: int, name: str, status: Status) -> FleetHost:
    return FleetHost(host_id, name, f"m-{name}", None, datetime_of_ms(0), status, 10.0, None)


def test_the_summary_averages_hosts_and_ranks_the_worst_first() -> None:
    hosts = [_host(1, "a", "live"), _host(2, "b", "stale"), _host(3, "c", "offline")]
    totals = {1: Totals(), 2: Totals(), 3: Totals()}
    totals[1].add(1, Headline(90.0, 10.0, None, None))
    totals[2].add(1, Headline(10.0, 30.0, None, None))
    summary = summarise(hosts, totals, 0, HOUR_MS, worst=1)
    assert summary.counts == {"live": 1, "stale": 1, "offline": 1}
    assert summary.averages == Headline(50.0, 20.0, None, None)
    assert [h.name for h in summary.worst["cpu_percent"]] == ["a"]
    assert [h.name for h in summary.worst["memory_percent"]] == ["b"]
    assert summary.worst["disk_percent"] == []
    assert summary.start == datetime_of_ms(0) and summary.end == datetime_of_ms(HOUR_MS)


def test_values_are_placed_in_their_section_and_item() -> None:
    sections: dict[str, Section] = {}
    place(sections, "cpu_utilization_percent", 5.0)
    place(sections, 'cpu_seconds_total{mode="user"}', 1.0)  # per mode: not a card
    place(sections, 'filesystem_used_bytes{mountpoint="/"}', 7.0)
    place(sections, 'filesystem_used_bytes{device="sda"}', 8.0)  # not the item label
    place(sections, "processes_count", 3.0)  # no card yet
    assert sections == {
        "cpu": Section({"utilization_percent": 5.0}, {}),
        "filesystem": Section({}, {"/": {"used_bytes": 7.0}}),
    }


def test_points_align_on_one_axis_and_combine_where_present() -> None:
    times, lines = aligned([("a", [(1.0, 1.0), (3.0, 3.0)]), ("b", [(2.0, None)])])
    assert times == [1.0, 2.0, 3.0]
    assert lines == [("a", [1.0, None, 3.0]), ("b", [None, None, None])]
    series = [[(1.0, 1.0), (2.0, None)], [(1.0, 3.0), (2.0, 4.0)]]
    assert combine(series, sum) == [(1.0, 4.0), (2.0, 4.0)]
    assert combine(series, mean) == [(1.0, 2.0), (2.0, 4.0)]
    index = SeriesIndex([Series("x", {"d": "a"}, [(1.0, 1.0)]), Series("x", {"d": "b"})])
    assert index.one("x") == [(1.0, 1.0)] and index.one("y") == []
    assert index.by("x", "d") == {"a": [(1.0, 1.0)], "b": []}


@pytest.mark.parametrize("cpu", [0.0, 100.0])
def test_a_window_headline_is_decoded_once(cpu: float) -> None:
    window = HostWindow()
    window.add(1_000, 1, _frame(1_000, cpu))
    first = window.headline(1_000, _layouts())
    assert isinstance(window.parts[1_000][1], Headline)  # the blob is gone
    assert window.headline(1_000, _layouts()) is first


def test_a_chunk_in_a_window_is_decoded_once_for_all_its_snapshots() -> None:
    times = [1_000, 11_000, 21_000]
    row = RowRef(1_000, 1, encode_chunk(times, [[c, 2e9, 8e9, *[None] * 9] for c in (5, 6, 7)]))
    window = HostWindow()
    for ts_ms in times:
        window.add(ts_ms, 1, row)
    window.forget_before(5_000)  # the first snapshot leaves the window; the row stays
    assert window.headline(21_000, _layouts()) is not None
    assert all(isinstance(window.parts[t][1], Headline) for t in times[1:])
    assert window.headline(11_000, _layouts()) == window.merged[11_000]
    assert window.headline(11_000, _layouts()) != window.headline(21_000, _layouts())
