"""Time and peak memory to analyse and render a collection file: 24 h at 10 s (8,640 snapshots)
and 7 days at 60 s (10,080 snapshots). Target (issue 13): under 10 s and under 300 MB for 24 h.

Each case runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is its own:
reading the file, the analysis, the HTML with its plots and the PDF. The synthetic host is
tests/synthetic_host.py's (4 CPUs, one disk, one filesystem, one NIC, two process groups),
written as a collection file first (not timed).

    .venv/bin/python bench/bench_analysis.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = (("24 h at 10 s", 8_640, 10.0), ("7 d at 60 s", 10_080, 60.0))


def child(path: str) -> None:
    from fleetscope.report.analysis import analyse  # noqa: PLC0415
    from fleetscope.report.collection import read_collection  # noqa: PLC0415
    from fleetscope.report.document import render_html, render_pdf  # noqa: PLC0415

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    frame = read_collection(Path(path))
    t1 = time.perf_counter()
    result = analyse(frame)
    t2 = time.perf_counter()
    html = render_html(result)
    t3 = time.perf_counter()
    pdf = render_pdf(html)
    t4 = time.perf_counter()
    print(
        json.dumps(
            {
                "snapshots": len(frame),
                "read_s": t1 - t0,
                "analyse_s": t2 - t1,
                "html_s": t3 - t2,
                "pdf_s": t4 - t3,
                "total_s": t4 - t0,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_after_imports_mb": baseline / 1024,
                "html_kb": len(html) / 1024,
                "pdf_kb": len(pdf) / 1024,
                "fit": result.fit,
            }
        )
    )


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.synthetic_host import Scenario, snapshots, write_collection  # noqa: PLC0415

    print(f"{'case':<14}{'snaps':>7}{'read s':>8}{'analyse':>8}{'html s':>8}{'pdf s':>7}"
          f"{'total s':>9}{'peak MB':>9}{'file MB':>9}{'html KB':>9}{'pdf KB':>8}"
          f"{'fit':>5}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name, count, interval in CASES:
            path = Path(tmp) / f"{count}.jsonl"
            write_collection(path, snapshots(Scenario(), count, interval))
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                capture_output=True, text=True, check=True, cwd=ROOT,
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{name:<14}{r['snapshots']:>7}{r['read_s']:>8.2f}{r['analyse_s']:>8.2f}"
                f"{r['html_s']:>8.2f}{r['pdf_s']:>7.2f}{r['total_s']:>9.2f}"
                f"{r['peak_rss_mb']:>9.0f}{path.stat().st_size / 2**20:>9.1f}"
                f"{r['html_kb']:>9.0f}{r['pdf_kb']:>8.0f}{r['fit']:>5}"
            )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
