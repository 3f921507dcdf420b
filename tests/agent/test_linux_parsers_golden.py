"""Our /proc parsers against Debian node_exporter 1.5.0's scrape of the same fixture trees.

Every value node_exporter reports for these files must come out of our parsers exactly
(after the unit rules in shared/fixtures/README.md), so the comparisons use ==, not approx.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetscope.agent.linux.proc import ProcFS
from tests.golden import key, load_expected

TREES = ["node_exporter", "procfs"]


def _tree(fixtures_dir: Path, name: str) -> tuple[ProcFS, Path]:
    return ProcFS(
        fixtures_dir / name / "tree" / "proc"
    ), fixtures_dir / name / "expected_metrics.txt"


# node_exporter's cpu and stat collectors fail on the procfs tree (no sys/devices/system/cpu),
# so its expected scrape has no cpu values to compare with; only the node_exporter tree does.
@pytest.mark.parametrize("tree", ["node_exporter"])
def test_stat_matches_node_exporter(fixtures_dir: Path, tree: str) -> None:
    procfs, expected_path = _tree(fixtures_dir, tree)
    expected = load_expected(expected_path)
    stat = procfs.stat()
    ours = {
        key("node_context_switches_total"): stat.context_switches_total,
        key("node_intr_total"): stat.interrupts_total,
        key("node_boot_time_seconds"): stat.boot_time_seconds,
        key("node_forks_total"): stat.forks_total,
        key("node_procs_running"): stat.procs_running,
        key("node_procs_blocked"): stat.procs_blocked,
    }
    for vector, count in stat.softirqs_by_vector.items():
        ours[key("node_softirqs_total", vector=vector)] = count
    for cpu, times in stat.per_cpu.items():
        for mode in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"):
            ours[key("node_cpu_seconds_total", cpu=str(cpu), mode=mode)] = getattr(times, mode)
        ours[key("node_cpu_guest_seconds_total", cpu=str(cpu), mode="user")] = times.guest
        ours[key("node_cpu_guest_seconds_total", cpu=str(cpu), mode="nice")] = times.guest_nice
    compared = 0
    for sample_key, value in ours.items():
        if sample_key in expected:
            assert value == expected[sample_key], sample_key
            compared += 1
    wanted = {
        k for k in expected if k[0].startswith(("node_cpu_seconds", "node_cpu_guest", "node_intr"))
    }
    assert wanted <= ours.keys()
    assert compared >= len(wanted) > 0


@pytest.mark.parametrize("tree", TREES)
def test_meminfo_matches_node_exporter(fixtures_dir: Path, tree: str) -> None:
    procfs, expected_path = _tree(fixtures_dir, tree)
    # node_memory_numa_* comes from the meminfo_numa collector (sys/devices/system/node), not here.
    expected = {
        k: v
        for k, v in load_expected(expected_path, "node_memory_").items()
        if "_numa_" not in k[0]
    }
    if not expected:
        pytest.skip(f"node_exporter reported no meminfo for the {tree} tree")
    meminfo = procfs.meminfo()
    # node_exporter renames "Active(anon)" to Active_anon and drops the _bytes suffix for counts.
    ours = {k.replace("(", "_").replace(")", ""): v for k, v in meminfo.by_name.items()}
    for (name, _labels), value in expected.items():
        kernel_name = name.removeprefix("node_memory_").removesuffix("_bytes")
        assert ours[kernel_name] == value, name
    assert meminfo.total_bytes == expected[key("node_memory_MemTotal_bytes")]


def test_loadavg_matches_node_exporter(fixtures_dir: Path) -> None:
    procfs, expected_path = _tree(fixtures_dir, "node_exporter")
    expected = load_expected(expected_path, "node_load")
    load = procfs.loadavg()
    assert (load.load1, load.load5, load.load15) == (
        expected[key("node_load1")],
        expected[key("node_load5")],
        expected[key("node_load15")],
    )
