"""How fast parse_exposition reads node_exporter 1.5.0's scrape of its fixture tree.

    .venv/bin/python bench/bench_exposition.py [--runs 15] [--loops 20] [--fixtures DIR]

Each run parses the scrape `--loops` times; the figures are the median over `--runs` runs.
Also shows prometheus_client's 0.0.4 parser alone, so the cost of our checks is visible.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from fleetscope.exposition.parse import parse_exposition

REPO_ROOT = Path(__file__).resolve().parent.parent


def _library_only(text: str) -> int:
    return sum(len(family.samples) for family in text_string_to_metric_families(text))


def _ours(text: str) -> int:
    return len(parse_exposition(text, "text/plain; version=0.0.4"))


def _measure(parse: Callable[[str], int], text: str, runs: int, loops: int) -> tuple[int, float]:
    samples = parse(text)  # warm-up, and the sample count
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            parse(text)
        seconds.append((time.perf_counter() - start) / loops)
    return samples, statistics.median(seconds)


def main() -> None:
    default_fixtures = os.environ.get(
        "FLEETSCOPE_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--loops", type=int, default=20)
    parser.add_argument("--fixtures", type=Path, default=Path(default_fixtures))
    args = parser.parse_args()

    path = args.fixtures / "node_exporter" / "expected_metrics.txt"
    text = path.read_text()
    print(f"{path} ({len(text):,} characters); median of {args.runs} runs x {args.loops} parses")
    for label, parse in (("parse_exposition", _ours), ("prometheus_client only", _library_only)):
        samples, seconds = _measure(parse, text, args.runs, args.loops)
        print(
            f"{label:>24}: {samples} samples, {seconds * 1e3:.2f} ms per scrape, "
            f"{samples / seconds:,.0f} samples/s, {seconds / samples * 1e6:.2f} µs per sample"
        )


if __name__ == "__main__":
    main()
