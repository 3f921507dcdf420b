"""Digest's pure per-payload costs: decode + validate an agent payload (model.payload
decode_payload), flatten its snapshot into series (model.series.flatten_snapshot), and the whole
transform digest runs per message (digest.transform.message_rows: decode, flatten, process
groups, inventory).

Payloads are built as bench/fleet_simulator.py builds them (its Fleet and load_snapshot: a real
snapshot from `fleetscope collect --once`, or --snapshot FILE, its 20 largest process groups,
one identity per host), so the figures are those of the simulator's load.

    python bench/bench_digest_transform.py                 # 50 hosts, 5 rounds
    python bench/bench_digest_transform.py --snapshot snap.json --rounds 10

Times are CPU time of this process (time.process_time) per payload, over every host's payload
in a round; the machine may be shared, so the load average is printed beside them and each
figure is repeated `--rounds` times (min / median / max).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_simulator import Fleet, load_snapshot
from fleetscope.digest.transform import AGENT_PAYLOAD, message_rows
from fleetscope.model.codec import decode_payload
from fleetscope.model.series import flatten_snapshot


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def per_item(work: Callable[[], object], items: int, repeat: int) -> float:
    """CPU seconds per item of one call of `work` (which handles `items` items), best of
    `repeat` calls: the least disturbed by other processes."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snapshot", type=Path, default=None)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20, help="calls per round; best counts")
    args = parser.parse_args()

    fleet = Fleet.build(load_snapshot(args.snapshot), args.hosts)
    rng = random.Random(3)
    bodies = [fleet.body(host, rng) for host in range(args.hosts)]
    payloads = [decode_payload(body) for body in bodies]
    snapshots = [p.snapshots[0] for p in payloads]
    series = len(flatten_snapshot(snapshots[0]))
    size = statistics.mean(len(b) for b in bodies)
    print(
        f"{args.hosts} payloads of {size / 1024:.1f} KiB JSON, {series} series each"
        f" ({fleet.samples_per_payload} samples as the fleet simulator counts them)"
    )
    print(f"before: {load()}")

    stages: dict[str, Callable[[], object]] = {
        "decode": lambda: [decode_payload(b) for b in bodies],
        "flatten": lambda: [flatten_snapshot(s) for s in snapshots],
        "message_rows": lambda: [message_rows(AGENT_PAYLOAD, 1, b) for b in bodies],
    }
    figures: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(args.rounds):
        for name, work in stages.items():
            figures[name].append(per_item(work, len(bodies), args.repeat))
    for name, values in figures.items():
        ms = sorted(v * 1e3 for v in values)
        print(
            f"{name:>12}: {statistics.median(ms):.3f} ms per payload CPU"
            f" (min {ms[0]:.3f}, max {ms[-1]:.3f} over {args.rounds} rounds)"
        )
    rows = statistics.median(figures["message_rows"])
    print(
        f"message_rows alone would allow {fleet.samples_per_payload / rows:,.0f} samples/s"
        f" ({1 / rows:,.0f} payloads/s) on one core"
    )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
