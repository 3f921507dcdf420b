"""bench/bench_code_choices.py prints the figures docs/code-choices.md quotes. Its cases run
here on tiny counts (--quick), so a change to the code they time cannot leave the bench
broken unnoticed; the figures are only checked to be numbers, never for speed."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parents[1] / "bench" / "bench_code_choices.py"
DOC = Path(__file__).resolve().parent.parents[1] / "docs" / "code-choices.md"


def test_every_case_runs_and_prints_numbers() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    results = json.loads(out)
    assert results, "no case ran"
    for case, figures in results.items():
        assert figures, case
        for name, value in figures.items():
            assert isinstance(value, int | float), (case, name, value)
            assert math.isfinite(value) and value > 0, (case, name, value)


def test_the_docs_page_names_every_case() -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_code_choices  # noqa: PLC0415
    finally:
        sys.path.remove(str(BENCH.parent))
    text = DOC.read_text()
    for case in bench_code_choices.CASES:
        assert f"--case {case}" in text, case
