"""bench/bench_push.py (pushed exposition into the embedded server) runs here on a tiny count,
so a change to the push door cannot leave it broken unnoticed. It checks that the bench runs,
stores every accepted sample once and prints its figures; never the speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_push.py"


def test_the_bench_runs_and_prints_its_figures(fixtures_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--pushes", "6", "--devices", "3", "--concurrency", "2",
         "--fixtures", str(fixtures_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout  # fmt: skip
    for label in ("accepted (202)", "stored end to end"):
        assert re.search(rf"^{re.escape(label)}\s+[\d,]+ samples/s", out, re.M), out
    assert re.search(r"^fleetscope CPU\s+[\d.]+ µs/sample", out, re.M), out
    # 6 pushes of the 2,477 samples the bench keeps of node_exporter's scrape
    assert re.search(r"^stored / accepted\s+14,862 / 14,862$", out, re.M), out
