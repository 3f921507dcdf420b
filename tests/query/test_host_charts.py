"""query/charts.py (what the host page draws) and GET /api/v1/hosts/{id}/charts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from msgspec.structs import replace

from fleetscope.model.payload import Snapshot
from fleetscope.query.charts import Chart, charts_of, counter_rate, fill_trend
from fleetscope.query.metrics import Series
from tests.busy_host import FILL_BYTES_PER_SECOND, GROUPS, INTERVAL_SECONDS, ROOT_SIZE, BusyHost
from tests.helpers import snapshot
from tests.server import LiveServer, start_server
from tests.web.test_dashboard_api import send


def test_a_counter_rate_skips_the_first_point_gaps_and_resets() -> None:
    points = [(0.0, 10.0), (10.0, 30.0), (20.0, None), (30.0, 50.0), (40.0, 5.0), (50.0, 15.0)]
    assert counter_rate(points) == [
        (0.0, None),
        (10.0, 2.0),
        (20.0, None),  # absent now
        (30.0, None),  # absent before
        (40.0, None),  # went down: a reset, no invented rate
        (50.0, 1.0),
    ]


def test_the_fill_trend_finds_the_rate_and_days_to_full() -> None:
    used = [(t * 60.0, 50e9 + 1e6 * t) for t in range(100)]  # 1 MB a minute
    avail = [(t, 100e9 - u) for t, u in used]
    trend = fill_trend("/", used, avail)
    assert trend.bytes_per_day == pytest.approx(1e6 * 1440)
    assert trend.days_to_full == pytest.approx((100e9 - used[-1][1]) / (1e6 * 1440))
    assert trend.used_percent == pytest.approx(100 * used[-1][1] / 100e9)


def test_a_filesystem_that_empties_has_no_days_to_full() -> None:
    used = [(t * 60.0, 50e9 - 1e6 * t) for t in range(10)]
    avail = [(t, 100e9 - u) for t, u in used]
    trend = fill_trend("/data", used, avail)
    assert trend.bytes_per_day is not None and trend.bytes_per_day < 0
    assert trend.days_to_full is None


def _series_of(snapshots: list[Snapshot]) -> list[Series]:
    """What the range scan returns for these snapshots: every flattened series, in time order."""
    from fleetscope.model.series import flatten_snapshot, split_series_key  # noqa: PLC0415

    by_key: dict[str, Series] = {}
    for snap in snapshots:
        t = snap.timestamp.timestamp()
        for key, value in flatten_snapshot(snap):
            if key not in by_key:
                name, labels = split_series_key(key)
                by_key[key] = Series(name, labels)
            by_key[key].points.append((t, value))
    return list(by_key.values())


def _charts(host: BusyHost, n: int = 30) -> dict[str, Chart]:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    snaps = [host.snapshot(start + timedelta(seconds=INTERVAL_SECONDS * i), i) for i in range(n)]
    charts, _ = charts_of(_series_of(snaps), GROUPS)
    return {c.key: c for c in charts}


def test_cpu_modes_are_shares_of_all_cpu_time() -> None:
    cpu = _charts(BusyHost())["cpu"]
    assert cpu.kind == "stacked"
    shares = {line.label: line.values for line in cpu.lines}
    assert set(shares) == {"user", "system", "iowait", "steal", "other"}
    # BusyHost spends 30 / 10 / 5 / 5 % of all CPU time in these modes
    for mode, expected in (("user", 30), ("system", 10), ("iowait", 5), ("steal", 5)):
        assert shares[mode][0] is None  # a rate needs two points
        assert shares[mode][1:] == pytest.approx([expected] * 29), mode


def test_every_core_is_a_heatmap_row_in_numeric_order() -> None:
    cores = _charts(BusyHost(cores=12))["cpu_cores"]
    assert cores.kind == "heatmap"
    assert [line.label for line in cores.lines] == [str(c) for c in range(12)]


def test_each_device_gets_its_charts_and_loopback_none() -> None:
    charts = _charts(BusyHost(disks=("sda", "nvme0n1"), interfaces=("eth0", "wlan0", "lo")))
    assert {"net:eth0", "net:wlan0"} <= charts.keys()
    assert "net:lo" not in charts
    for disk in ("sda", "nvme0n1"):
        for kind in ("disk_iops", "disk_bytes", "disk_await", "disk_util"):
            assert f"{kind}:{disk}" in charts
    assert {line.label for line in charts["tcp"].lines} == {"ESTABLISHED", "TIME_WAIT"}


def test_an_errors_chart_only_where_there_are_errors() -> None:
    assert "net_errors:eth0" not in _charts(BusyHost())
    errors = _charts(BusyHost(errors=True))["net_errors:eth0"]
    receive = next(line for line in errors.lines if line.label == "receive errors")
    assert set(receive.values) == {2.0}


def test_no_chart_for_data_the_host_does_not_send() -> None:
    bare = _charts(BusyHost(disks=(), interfaces=(), temperatures=False))
    assert not [key for key in bare if key.startswith(("disk", "net"))]
    assert "temperatures" not in bare
    assert "hugepages" not in bare  # none configured
    assert "temperatures" in _charts(BusyHost())


def test_process_groups_are_stacked_as_percent_of_one_core() -> None:
    cpu = _charts(BusyHost())["process_cpu"]
    assert cpu.kind == "stacked"
    by_group = {line.label: line.values for line in cpu.lines}  # rates start at the 2nd
    for n, group in enumerate(GROUPS):
        assert by_group[group] == pytest.approx([10.0 * (n + 1)] * 29)


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def test_the_charts_endpoint_answers_what_the_page_draws(live: LiveServer) -> None:
    host = BusyHost()
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(minutes=30)
    send(
        live,
        "busy-1",
        [host.snapshot(start + timedelta(seconds=INTERVAL_SECONDS * i), i) for i in range(180)],
    )
    live.wait_digested()
    headers = live.user_headers()
    host_id = live.client.get("/api/v1/hosts", headers=headers).json()[0]["id"]
    response = live.client.get(
        f"/api/v1/hosts/{host_id}/charts",
        params={"start_time": str(start.timestamp() - 1), "end_time": str(end.timestamp())},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["tier"] == "raw"
    keys = [c["key"] for c in found["charts"]]
    assert keys[:3] == ["cpu", "cpu_cores", "cpu_frequency"]
    assert {"memory", "load", "net:eth0", "tcp", "disk_iops:sda", "filesystems"} <= set(keys)
    assert {"process_cpu", "process_memory"} <= set(keys)
    for chart in found["charts"]:
        assert all(len(line["values"]) == len(chart["times"]) for line in chart["lines"])
    (root,) = found["filesystems"]
    assert root["mountpoint"] == "/"
    assert root["bytes_per_day"] == pytest.approx(FILL_BYTES_PER_SECOND * 86400, rel=1e-6)
    newest_used = 40e9 + FILL_BYTES_PER_SECOND * 179 * INTERVAL_SECONDS
    assert root["days_to_full"] == pytest.approx(
        (ROOT_SIZE - newest_used) / (FILL_BYTES_PER_SECOND * 86400), rel=1e-6
    )
    stacked = next(c for c in found["charts"] if c["key"] == "process_cpu")
    assert [line["label"] for line in stacked["lines"]] == list(reversed(GROUPS))  # by CPU

    one = live.client.get(
        f"/api/v1/hosts/{host_id}/charts",
        params={"start_time": str(start.timestamp() - 1), "group": "nginx"},
        headers=headers,
    ).json()
    assert [c["key"] for c in one["charts"]] == ["group_cpu:nginx", "group_memory:nginx"]
    assert one["charts"][0]["lines"][0]["values"] == pytest.approx([20.0] * 179)


def test_the_charts_endpoint_refuses_strangers_and_unknown_hosts(live: LiveServer) -> None:
    assert live.client.get("/api/v1/hosts/1/charts").status_code == 401
    headers = live.user_headers()
    assert live.client.get("/api/v1/hosts/424242/charts", headers=headers).status_code == 404
    send(live, "busy-1", [BusyHost().snapshot(datetime.now(UTC), 0)])
    live.wait_digested()
    host_id = live.client.get("/api/v1/hosts", headers=headers).json()[0]["id"]
    bad = live.client.get(f"/api/v1/hosts/{host_id}/charts?start_time=yesterday", headers=headers)
    assert bad.status_code == 400
    assert "start_time" in bad.text


def test_without_moving_mode_counters_the_cpu_chart_is_the_utilisation() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    snaps = [snapshot(start + timedelta(seconds=10 * i), cpu_percent=10.0 + i) for i in range(5)]
    charts, _ = charts_of(_series_of(snaps), ())
    cpu = next(c for c in charts if c.key == "cpu")
    assert (cpu.kind, cpu.title) == ("line", "CPU")
    assert cpu.lines[0].values == [10.0, 11.0, 12.0, 13.0, 14.0]


def test_huge_pages_are_charted_where_configured() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    snaps = []
    for i in range(3):
        base = snapshot(start + timedelta(seconds=10 * i))
        assert base.memory is not None
        memory = replace(
            base.memory, hugepages_total=4, hugepages_free=1, hugepage_size_bytes=2 * 2**20
        )
        snaps.append(replace(base, memory=memory))
    charts, _ = charts_of(_series_of(snaps), ())
    huge = next(c for c in charts if c.key == "hugepages")
    lines = {line.label: line.values for line in huge.lines}
    assert lines == {"used": [6 * 2**20] * 3, "total": [8 * 2**20] * 3}
