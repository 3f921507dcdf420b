"""Process grouping: rules and templates, and Debian process-exporter's output on the fixture."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.processes.groups import (
    GO_NO_VALUE,
    GroupSnapshot,
    ProcessGrouper,
    aggregate,
    go_base,
    group_processes,
)
from fleetscope.agent.processes.sample import ProcessSample
from fleetscope.agent.processes.settings import ProcessGroupsSettings, parse_name_template
from fleetscope.agent.processes.tracker import GroupTracker, TrackedGroup
from fleetscope.config.settings import ConfigError, settings_from
from tests.proc_tree import PAGE_SIZE, PROCESS_EXPORTER_ROOT

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def exported(groups: dict[str, TrackedGroup]) -> Series:
    """Our groups as process-exporter's namedprocess_namegroup_* series (gauges and counters
    that have a counterpart; proportional memory needs smaps, which we do not read)."""
    out: Series = {}

    def put(metric: str, group: str, value: float, **labels: str) -> None:
        key = tuple(sorted({"groupname": group, **labels}.items()))
        out[(f"namedprocess_namegroup_{metric}", key)] = float(value)

    for name, g in groups.items():
        c, s = g.counters, g.current
        assert s is not None
        put("num_procs", name, s.num_procs)
        put("num_threads", name, s.num_threads)
        put("memory_bytes", name, s.resident_bytes, memtype="resident")
        put("memory_bytes", name, s.virtual_bytes, memtype="virtual")
        put("memory_bytes", name, s.swap_bytes or 0, memtype="swapped")
        put("open_filedesc", name, s.open_fds or 0)
        put("worst_fd_ratio", name, s.worst_fd_ratio or 0)
        # process-exporter exports time.Time.Unix(): whole seconds, rounded down.
        put("oldest_start_time_seconds", name, math.floor(s.oldest_start_time_seconds))
        for state, count in s.states.items():
            put("states", name, count, state=state)
        put("cpu_seconds_total", name, c.cpu_user_seconds_total, mode="user")
        put("cpu_seconds_total", name, c.cpu_system_seconds_total, mode="system")
        put("read_bytes_total", name, c.read_bytes_total)
        put("write_bytes_total", name, c.write_bytes_total)
        put("major_page_faults_total", name, c.major_faults_total)
        put("minor_page_faults_total", name, c.minor_faults_total)
        put(
            "context_switches_total",
            name,
            c.voluntary_ctx_switches_total,
            ctxswitchtype="voluntary",
        )
        put(
            "context_switches_total",
            name,
            c.nonvoluntary_ctx_switches_total,
            ctxswitchtype="nonvoluntary",
        )
    return out


def parse_exposition(text: str) -> Series:
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return series


def test_fixture_groups_like_debian_process_exporter(fixtures_dir: Path) -> None:
    base = fixtures_dir / "process_exporter"
    settings = settings_from(
        ProcessGroupsSettings, yaml.safe_load((base / "comm.yaml").read_text())
    )
    samples = ProcFS(fixtures_dir / PROCESS_EXPORTER_ROOT).processes(page_size=PAGE_SIZE)
    ours = exported(GroupTracker(ProcessGrouper(settings)).update(samples, now=1_800_000_000.0))

    expected = parse_exposition((base / "expected_metrics_upstream_fixture.txt").read_text())
    comparable = {
        k: v
        for k, v in expected.items()
        if k[0].startswith("namedprocess_namegroup_")
        and ("memtype", "proportionalResident") not in k[1]
        and ("memtype", "proportionalSwapped") not in k[1]
    }
    assert len(comparable) == 21
    assert ours == comparable
    # The headline figures, spelled out.
    group = (("groupname", "process-exporte"),)
    assert ours[("namedprocess_namegroup_worst_fd_ratio", group)] == 0.0048828125
    assert ours[("namedprocess_namegroup_oldest_start_time_seconds", group)] == 1.508453571e09


def sample(pid: int, name: str, *cmdline: str, **fields: object) -> ProcessSample:
    base = ProcessSample(
        pid=pid,
        ppid=1,
        name=name,
        cmdline=tuple(cmdline),
        exe=None,
        uid=1000,
        username="alice",
        state="S",
        start_time_seconds=1_000.0 + pid,
        start_token=pid * 10,
        cpu_user_seconds_total=1.0,
        cpu_system_seconds_total=0.5,
        resident_bytes=4096,
        virtual_bytes=8192,
        swap_bytes=0,
        read_bytes_total=10,
        write_bytes_total=20,
        num_threads=1,
        open_fds=4,
        max_fds=1024,
        voluntary_ctx_switches_total=3,
        nonvoluntary_ctx_switches_total=1,
        minor_faults_total=7,
        major_faults_total=0,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def grouper(yaml_text: str) -> ProcessGrouper:
    return ProcessGrouper(settings_from(ProcessGroupsSettings, yaml.safe_load(yaml_text)))


def test_no_rules_groups_everything_by_comm() -> None:
    procs = {
        1: sample(1, "systemd", "/sbin/init"),
        2: sample(2, "kthreadd"),
        10: sample(10, "bash", "-bash"),
        11: sample(11, "bash", "/bin/bash"),
    }
    assert ProcessGrouper().assign(procs) == {1: "systemd", 2: "kthreadd", 10: "bash", 11: "bash"}
    groups = group_processes(procs, ProcessGrouper())
    assert groups["bash"].num_procs == 2


def test_upstream_readme_example_rules() -> None:
    # The example config of process-exporter's README, rule by rule.
    g = grouper(
        r"""
process_names:
  - comm: [bash]
  - exe: [postgres, /usr/local/bin/prometheus]
  - name: "{{.ExeFull}}:{{.Matches.Cfgfile}}"
    exe: [/usr/local/bin/process-exporter]
    cmdline: ['-config.path\s+(?P<Cfgfile>\S+)']
"""
    )
    assert g.match(sample(1, "bash", "-bash")) == "-bash"  # default name {{.ExeBase}}
    assert g.match(sample(2, "postgres", "/usr/lib/postgresql/15/bin/postgres", "-D", "x")) == (
        "postgres"
    )
    assert g.match(sample(3, "prometheus", "/usr/local/bin/prometheus")) == "prometheus"
    assert g.match(sample(4, "prometheus", "/opt/prometheus")) is None  # full path must equal
    pe = sample(5, "process-exporte", "/usr/local/bin/process-exporter", "-config.path", "/e/c.yml")
    assert g.match(pe) == "/usr/local/bin/process-exporter:/e/c.yml"
    assert g.match(replace(pe, cmdline=("/usr/local/bin/process-exporter",))) is None
    assert g.match(sample(6, "sshd", "/usr/sbin/sshd")) is None


def test_first_matching_rule_wins_and_selectors_and_together() -> None:
    g = grouper(
        """
process_names:
  - name: "web-{{.Username}}"
    comm: [nginx, php-fpm]
    user: [www-data, "33"]
  - name: "any-{{.Comm}}"
    cmdline: ['.+']
"""
    )
    assert g.match(sample(1, "nginx", "nginx: worker", username="www-data")) == "web-www-data"
    # No name for uid 33 here: Username falls back to the uid, and the rule lists "33".
    assert g.match(sample(2, "php-fpm", "php-fpm", username=None, uid=33)) == "web-33"
    assert g.match(sample(3, "nginx", "nginx: master", username="root")) == "any-nginx"
    assert g.match(sample(4, "kworker/0:1")) is None  # empty cmdline: '.+' fails, as upstream


def test_templates_and_captures() -> None:
    g = grouper(
        r"""
process_names:
  - name: "{{ .Comm }}|{{.ExeBase}}|{{.ExeFull}}|{{.PID}}|{{.Matches.role}}|{{.Matches.none}}"
    cmdline: ['--role=(?P<role>\w+)', '(?P<opt>--opt)?']
"""
    )
    name = g.match(sample(7, "java", "/usr/bin/java", "--role=worker"))
    assert name == f"java|java|/usr/bin/java|7|worker|{GO_NO_VALUE}"
    assert g.match(sample(8, "java", "java", "--role=")) is None


def test_exebase_falls_back_to_comm_without_cmdline() -> None:
    g = grouper('process_names: [{name: "{{.ExeBase}}/{{.ExeFull}}", comm: [kthreadd]}]')
    assert g.match(sample(2, "kthreadd")) == "kthreadd/kthreadd"


@pytest.mark.parametrize(
    ("path", "base"),
    [("/usr/bin/x", "x"), ("x", "x"), ("/a/b/", "b"), ("", "."), ("///", "/"), ("-bash", "-bash")],
)
def test_go_base(path: str, base: str) -> None:
    assert go_base(path) == base


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"process_names": [{"comm": ["a"]}], "extra": 1}, "unknown field `extra`"),
        ({"process_names": [{"comm": ["a"], "cmdlines": ["x"]}]}, r"process_names\[0\].cmdlines"),
        ({"process_names": [{"name": "x"}]}, "needs at least one of"),
        ({"process_names": [{"cmdline": ["("]}]}, "bad cmdline regex"),
        ({"process_names": [{"comm": ["a"], "name": "{{.Cwd}}"}]}, "unknown template field"),
        ({"process_names": [{"comm": ["a"], "name": "{{.Matches}}"}]}, "needs a key"),
        ({"process_names": [{"comm": ["a"], "name": "{{printf .Comm}}"}]}, "unsupported"),
        ({"process_names": [{"comm": ["a"], "name": "{{.Comm"}]}, "unbalanced"),
        ({"process_names": [{"comm": "bash"}]}, r"comm: Expected `array \| null`, got `str`"),
        ({"track_children": "yes"}, "Expected `bool`, got `str`"),
    ],
)
def test_settings_are_strict(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from(ProcessGroupsSettings, config)


def test_template_parts() -> None:
    parts = parse_name_template("a{{.Comm}}b{{.Matches.X}}")
    assert [(p.literal, p.field, p.key) for p in parts] == [
        ("a", None, None),
        ("", "Comm", None),
        ("b", None, None),
        ("", "Matches", "X"),
    ]


def test_children_join_their_matched_ancestor() -> None:
    procs = {
        100: sample(100, "postgres", "/usr/bin/postgres", ppid=1),
        101: sample(101, "postgres", "postgres: checkpointer", ppid=100),
        102: sample(102, "sh", "sh", "-c", "x", ppid=100),
        103: sample(103, "sleep", "sleep", "5", ppid=102),
        200: sample(200, "cron", "/usr/sbin/cron", ppid=1),
    }
    config = 'process_names: [{name: db, exe: ["/usr/bin/postgres"]}]'
    # The checkpointer's argv[0] is rewritten, so only its parent puts it in "db".
    assert grouper(config).assign(procs) == {100: "db", 101: "db", 102: "db", 103: "db"}
    off = grouper(config + "\ntrack_children: false")
    assert off.assign(procs) == {100: "db"}


def test_children_walk_survives_a_ppid_cycle() -> None:
    procs = {5: sample(5, "a", "a", ppid=6), 6: sample(6, "b", "b", ppid=5)}
    assert grouper("process_names: [{comm: [z]}]").assign(procs) == {}


def test_aggregate_sums_and_keeps_unknown_apart() -> None:
    procs = {
        1: sample(1, "w", "w", num_threads=3, open_fds=10, max_fds=100, state="R"),
        2: sample(2, "w", "w", read_bytes_total=None, write_bytes_total=None, open_fds=None),
        3: sample(3, "w", "w", swap_bytes=None, open_fds=50, max_fds=200, state="Z"),
    }
    g = aggregate(procs, {1: "w", 2: "w", 3: "w"})["w"]
    assert isinstance(g, GroupSnapshot)
    assert g.num_procs == 3
    assert g.num_threads == 5
    assert g.cpu_user_seconds_total == 3.0
    assert g.resident_bytes == 3 * 4096
    assert g.read_bytes_total == 20  # the two that could be read
    assert g.swap_bytes == 0
    assert g.open_fds == 60
    assert g.worst_fd_ratio == 0.25
    assert g.oldest_start_time_seconds == 1001.0
    assert g.states == {"Running": 1, "Sleeping": 1, "Waiting": 0, "Zombie": 1, "Other": 0}
    assert g.partial_procs == 1
    lone = aggregate({4: sample(4, "x", "x", swap_bytes=None, open_fds=None)}, {4: "x"})["x"]
    assert lone.swap_bytes is None
    assert lone.open_fds is None
    assert lone.worst_fd_ratio is None
