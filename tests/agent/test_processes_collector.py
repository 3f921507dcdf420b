"""The processes collector over ordered fake /proc trees, through the real ProcFS and parsers:
group counters that only grow, top-N by CPU over the interval, flattening, settings."""

from __future__ import annotations

import shutil
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from fleetscope.agent.collectors.processes import ProcessesCollector
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.processes.settings import ProcessGroupRule, ProcessGroupsSettings
from fleetscope.agent.settings import AgentSettings
from fleetscope.cli.main import app
from fleetscope.model.payload import Snapshot
from fleetscope.model.series import flatten_snapshot
from tests.proc_tree import FakeProc, write_proc_tree

BTIME = 1_700_000_000


def _scan_of(root: Path) -> ProcessesCollector:
    clock = iter([BTIME + 100.0, BTIME + 110.0, BTIME + 120.0])
    return ProcessesCollector(
        lambda: ProcFS(root, page_size=4096).processes(page_size=4096),
        top_n=2,
        clock=lambda: next(clock),
    )


def _tree(root: Path, procs: list[FakeProc]) -> None:
    shutil.rmtree(root, ignore_errors=True)
    write_proc_tree(root, procs, btime=BTIME)


def test_groups_top_cpu_and_exits_over_three_scans(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    web = [
        FakeProc(10, "nginx", ("nginx",), utime_ticks=100),
        FakeProc(11, "nginx", ("nginx",), utime_ticks=50),
    ]
    db = FakeProc(20, "postgres", ("postgres",), utime_ticks=1000, rss_pages=5000)
    _tree(root, [*web, db])
    collector = _scan_of(root)
    first = collector.collect()
    groups = {g.name: g for g in first.groups}
    assert (groups["nginx"].num_procs, groups["nginx"].cpu_user_seconds_total) == (2, 0.0)
    assert first.top_cpu == []  # no interval yet
    assert [p.pid for p in first.top_memory] == [20, 10]
    # 10 s later: nginx 10 used 5 s of CPU (50 %), postgres 1 s (10 %).
    _tree(
        root,
        [
            FakeProc(10, "nginx", ("nginx",), utime_ticks=600),
            web[1],
            FakeProc(20, "postgres", ("postgres",), utime_ticks=1100, rss_pages=5000),
        ],
    )
    second = collector.collect()
    assert [(p.pid, p.cpu_percent) for p in second.top_cpu] == [(10, 50.0), (20, 10.0)]
    assert {g.name: g.cpu_user_seconds_total for g in second.groups} == {
        "nginx": 5.0,
        "postgres": 1.0,
    }
    # nginx 10 exits: its CPU stays counted, the group shrinks, nothing goes down.
    _tree(root, [web[1], FakeProc(20, "postgres", ("postgres",), utime_ticks=1100, rss_pages=5000)])
    third = collector.collect()
    nginx = {g.name: g for g in third.groups}["nginx"]
    assert (nginx.num_procs, nginx.cpu_user_seconds_total) == (1, 5.0)
    flat = dict(flatten_snapshot(Snapshot(timestamp=datetime.now(UTC), processes=third)))
    assert flat['process_group_cpu_seconds_total{group="nginx",mode="user"}'] == 5.0
    assert flat['process_group_num_procs{group="nginx"}'] == 1.0
    assert flat["processes_count"] == 2.0
    assert not any("pid" in key for key in flat)


def test_rules_name_groups(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    _tree(
        root, [FakeProc(5, "java", ("java", "-jar", "billing.jar")), FakeProc(6, "bash", ("bash",))]
    )
    rules = ProcessGroupsSettings(
        process_names=[ProcessGroupRule(name="{{.Matches.app}}", cmdline=[r"-jar (?P<app>\w+)"])]
    )
    collector = ProcessesCollector(
        lambda: ProcFS(root, page_size=4096).processes(page_size=4096), rules
    )
    assert [g.name for g in collector.collect().groups] == ["billing"]  # bash matches no rule


def test_the_sample_config_rules_are_valid(tmp_path: Path) -> None:
    sample = CliRunner().invoke(app, ["config", "--sample"]).output
    uncommented = (
        sample.replace("# process_names", "process_names")
        .replace("#   {", "  {")
        .replace("# ]", "]")
    )
    config = tmp_path / "f.toml"
    config.write_text(uncommented)
    assert tomllib.loads(uncommented)["agent"]["processes"]["process_names"]
    settings = AgentSettings.load(config)
    assert [r.name for r in settings.processes.process_names] == ["{{.Matches.app}}", "postgres"]
