"""report/: synthetic hosts with known problems give the expected findings and score bands."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fleetscope.report.analysis import Analysis, analyse, findings_json
from fleetscope.report.collection import CollectionError, read_collection
from fleetscope.report.frame import frame_from_snapshots
from fleetscope.report.thresholds import Thresholds
from tests.synthetic_host import GIB, Scenario, const, snapshots, write_collection

DAY_AT_MINUTE = 1440  # 24 h at 60 s


def run(scenario: Scenario, count: int = DAY_AT_MINUTE, interval: float = 60.0) -> Analysis:
    return analyse(frame_from_snapshots("synthetic", snapshots(scenario, count, interval)))


def problems(analysis: Analysis) -> dict[tuple[str, str], str]:
    return {
        (f.check, f.resource): f.severity
        for f in analysis.findings
        if f.severity in {"warning", "critical"}
    }


def test_a_healthy_idle_machine_scores_at_least_90() -> None:
    analysis = run(Scenario())
    assert problems(analysis) == {}
    assert analysis.fit >= 90
    assert analysis.status == "success"
    checked = {f.check for f in analysis.findings}
    assert {
        "cpu.utilization",
        "memory.available",
        "disk.utilization",
        "filesystem.forecast",
        "network.flapping",
    } <= checked


def test_a_saturated_cpu_scores_below_50_and_names_the_group() -> None:
    analysis = run(Scenario(busy=const(0.97), load_per_cpu=const(2.5), app_cpu_share=0.9))
    found = problems(analysis)
    assert found[("cpu.utilization", "all CPUs")] == "critical"
    assert found[("cpu.saturation", "run queue")] == "critical"
    assert analysis.fit < 50
    assert analysis.status == "danger"
    busy = next(f for f in analysis.findings if f.check == "cpu.utilization")
    assert busy.driver == "app"
    assert busy.window_start == analysis.start + 60  # the first rate is at the second instant
    facts = {fact.label: fact.value for fact in busy.facts}
    assert facts["p95 busy"] == "97.0 %"


def test_a_short_burst_is_a_warning_not_critical() -> None:
    # 20 % of the window saturated: above warning_fraction (10 %), below critical (50 %).
    span = DAY_AT_MINUTE * 60.0
    analysis = run(Scenario(busy=lambda t: 0.97 if t > 0.8 * span else 0.1))
    assert problems(analysis)[("cpu.utilization", "all CPUs")] == "warning"
    assert 75 <= analysis.fit < 90


def test_a_memory_leak_into_swap() -> None:
    span = DAY_AT_MINUTE * 60.0
    leak = Scenario(
        memory_used=lambda t: 3 * GIB + 12 * GIB * t / span,
        swap_used=lambda t: max(0.0, t - 0.6 * span) * 50_000,
        swap_out_per_second=lambda t: 4e6 if t > 0.6 * span else 0.0,
        app_resident=lambda t: 1 * GIB + 11 * GIB * t / span,
    )
    analysis = run(leak)
    found = problems(analysis)
    assert found[("memory.growth", "RAM")] == "critical"  # growing and swapping
    assert found[("memory.swapping", "swap")] == "warning"  # 40 % of the window
    growth = next(f for f in analysis.findings if f.check == "memory.growth")
    assert growth.driver == "app"
    assert analysis.fit < 75


def test_a_filesystem_filling_at_a_known_rate_is_forecast_within_10_percent() -> None:
    rate_per_day = 10 * GIB
    # Noise a sixth of an hour's growth, so the fit has something to average out.
    fill = Scenario(
        fs_used=lambda t: 40 * GIB + rate_per_day * t / 86_400 + 0.07 * GIB * math.sin(t / 900)
    )
    analysis = run(fill)
    forecast = next(f for f in analysis.findings if f.check == "filesystem.forecast")
    days = float(dict((x.label, x.value) for x in forecast.facts)["days to full"])
    end = (DAY_AT_MINUTE - 1) * 60.0
    truth = (200 * GIB - (40 * GIB + rate_per_day * end / 86_400)) / rate_per_day
    assert abs(days - truth) / truth < 0.10
    assert forecast.severity == "warning"  # under 30 days, over 7
    assert 75 <= analysis.fit < 90


def test_a_flapping_nic() -> None:
    analysis = run(Scenario(link_up=lambda i: (i // 40) % 2 == 0))
    flapping = next(f for f in analysis.findings if f.check == "network.flapping")
    assert flapping.severity == "critical"
    assert dict((x.label, x.value) for x in flapping.facts)["link losses"] == "18"
    assert analysis.fit < 75


def test_the_same_input_gives_the_same_result() -> None:
    scenario = Scenario(busy=const(0.5), fs_used=lambda t: 40 * GIB + t * 1000)
    first, second = run(scenario), run(scenario)
    assert findings_json(first) == findings_json(second)
    assert first.fit == second.fit


def test_too_few_snapshots_is_status_info() -> None:
    analysis = run(Scenario(), count=2)
    assert analysis.status == "info"


def test_thresholds_are_settings() -> None:
    strict = Thresholds.from_mapping({"cpu_busy_percent": 2, "warning_fraction": 0.05})
    analysis = analyse(
        frame_from_snapshots("h", snapshots(Scenario(busy=const(0.03)), 200, 60.0)), strict
    )
    assert problems(analysis)[("cpu.utilization", "all CPUs")] == "critical"
    with pytest.raises(ValueError, match=r"thresholds\.cpu_bussy: unknown threshold"):
        Thresholds.from_mapping({"cpu_bussy": 1})
    with pytest.raises(ValueError, match=r"thresholds\.cpu_busy_percent: wanted a number"):
        Thresholds.from_mapping({"cpu_busy_percent": "high"})


def test_a_collection_file_reads_back(tmp_path: Path) -> None:
    path = write_collection(tmp_path / "c.jsonl", snapshots(Scenario(), 800, 10.0), "db-7")
    frame = read_collection(path)
    assert frame.hostname == "db-7"
    assert len(frame) == 800
    assert frame.interval_seconds == 10.0
    with path.open("ab") as out:
        out.write(b'{"schema_version": 1, "nope": true}\n')
    with pytest.raises(CollectionError, match=r"c\.jsonl:4: not a fleetscope payload"):
        read_collection(path)
