"""bench/bench_aggregator.py (the aggregator batch door under a TSBS-shaped load, issue 17)
runs here on a tiny count, so a change to the server cannot leave the bench broken
unnoticed. It checks that the bench runs, stores every sample once and prints its figures;
never the speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_aggregator.py"


def test_the_bench_runs_and_prints_its_figures() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--samples", "2500", "--hosts", "3", "--concurrency", "2"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    for label in ("accepted (202)", "stored end to end"):
        assert re.search(rf"^{re.escape(label)}\s+[\d,]+ samples/s", out, re.M), out
    assert re.search(r"^fleetscope CPU\s+[\d.]+ µs/sample", out, re.M), out
    assert "stored / accepted / sent  2,500 / 2,500 / 2,500" in out, out
    assert "Prometheus (MEASURED.md):" in out, out
