"""bench/bench_remote_write.py (Prometheus remote_write into the embedded server) runs here on
a tiny count, so a change to the server or to bench/embedded_server.py cannot leave it broken
unnoticed. It checks that the bench runs, counts every sample stored once (chunk rows
included) and prints its figures; never the speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_remote_write.py"


def test_the_bench_runs_and_prints_its_figures() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--samples", "6000", "--hosts", "3", "--series", "20",
         "--samples-per-request", "500", "--concurrency", "2"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout  # fmt: skip
    for label in ("received (204)", "stored end to end"):
        assert re.search(rf"^{re.escape(label)}\s+[\d,]+ samples/s", out, re.M), out
    assert re.search(r"^server CPU\s+[\d.]+ µs/sample", out, re.M), out
    assert re.search(r"^stored / sent\s+6,000 / 6,000$", out, re.M), out
    assert "Prometheus (MEASURED.md):" in out, out
