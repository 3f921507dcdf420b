"""The pure-Python rollup math digest runs for every settled bucket (store/rollup_math.py): the
stats of a minute from its snapshots (frames_stats: 6 frames of 10-s snapshots), and of an
hour from its 60 minutes (merge_stats), for a layout as wide as the fleet simulator's payload
(--columns, 478 series), a few series absent in some snapshots (--absent).

    python bench/bench_digest_rollup_stats.py

Times are CPU time (time.process_time) per bucket, best of --repeat calls, min / median / max
over --rounds, with the load average beside them.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable

from fleetscope.store.rollup_math import frames_stats, merge_stats

NAN = float("nan")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def per_call(work: Callable[[], object], calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, time.process_time() - started)
    return best / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--columns", type=int, default=478)
    parser.add_argument("--absent", type=float, default=0.01, help="share of absent values")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(1)
    # Absent series: always the same few columns (a sensor a host lacks), as in a real layout.
    absent = set(rng.sample(range(args.columns), int(args.columns * args.absent)))

    def frame() -> list[float]:
        return [
            NAN if c in absent and rng.random() < 0.5 else rng.uniform(0, 1e9)
            for c in range(args.columns)
        ]

    minute = [frame() for _ in range(6)]
    minutes = [frames_stats([frame() for _ in range(6)]) for _ in range(60)]
    print(f"{args.columns} series, {len(absent)} sometimes absent; before: {load()}")
    for name, work, calls in (
        ("frames_stats, a minute of 6 snapshots", lambda: frames_stats(minute), args.calls),
        ("merge_stats, an hour of 60 minutes", lambda: merge_stats(minutes), args.calls // 10),
    ):
        figures = [per_call(work, calls, args.repeat) * 1e6 for _ in range(args.rounds)]
        print(
            f"{name}: {statistics.median(figures):.0f} µs per bucket "
            f"(min {min(figures):.0f}, max {max(figures):.0f} over {args.rounds} rounds)"
        )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
