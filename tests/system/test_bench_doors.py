"""The door benches (bench/bench_aggregator.py, bench_remote_write.py, bench_push.py: a real
embedded server through bench/embedded_server.py) run here on tiny counts, so a change to the
server or to the benches cannot leave them broken unnoticed. Each must run, store every sample
once (chunk rows counted by their snapshots) and print its figures; never the speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

# bench, its arguments, the rate lines it prints, the CPU line's label, the count line
CASES = {
    "aggregator": (
        ["--samples", "2500", "--hosts", "3", "--concurrency", "2"],
        ("accepted (202)", "stored end to end"),
        "fleetscope CPU",
        r"stored / accepted / sent  2,500 / 2,500 / 2,500",
    ),
    "remote_write": (
        ["--samples", "6000", "--hosts", "3", "--series", "20", "--samples-per-request", "500",
         "--concurrency", "2"],
        ("received (204)", "stored end to end"),
        "server CPU",
        r"stored / sent\s+6,000 / 6,000",
    ),
    "push": (  # 6 pushes of the 2,477 samples the bench keeps of node_exporter's scrape
        ["--pushes", "6", "--devices", "3", "--concurrency", "2"],
        ("accepted (202)", "stored end to end"),
        "fleetscope CPU",
        r"stored / accepted\s+14,862 / 14,862",
    ),
}  # fmt: skip


@pytest.mark.parametrize("bench", sorted(CASES))
def test_the_bench_runs_and_prints_its_figures(bench: str, fixtures_dir: Path) -> None:
    args, rates, cpu, count = CASES[bench]
    if bench == "push":
        args = [*args, "--fixtures", str(fixtures_dir)]
    out = subprocess.run(
        [sys.executable, str(BENCH / f"bench_{bench}.py"), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    for label in rates:
        assert re.search(rf"^{re.escape(label)}\s+[\d,]+ samples/s", out, re.M), out
    assert re.search(rf"^{cpu}\s+[\d.]+ µs/sample", out, re.M), out
    assert re.search(rf"^{count}$", out, re.M), out
    assert "Prometheus (MEASURED.md):" in out, out
