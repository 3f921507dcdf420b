"""What durability costs per spooled snapshot: SQLiteSpool.append (zstd + one committed
transaction) and the delete of a delivered batch, with synchronous=FULL and =NORMAL (both WAL),
on a real snapshot of this host, in a temp dir (or --dir, to measure another disk).

    .venv/bin/python bench/bench_spool_append.py [--appends 300] [--dir /var/lib/fleetscope]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleetscope.agent.spool import SpoolLimits, SQLiteSpool
from fleetscope.agent.spool.sqlite import Synchronous
from fleetscope.model.codec import encode
from spool_common import real_snapshot


def measure(directory: Path, mode: Synchronous, body: bytes, appends: int) -> None:
    path = directory / f"spool-{mode}.db"
    spool = SQLiteSpool(path, SpoolLimits(10**10, 10**9), synchronous=mode)
    costs = []
    for i in range(appends):
        started = time.perf_counter()
        spool.append(1_800_000_000 + 10 * i, body)
        costs.append(time.perf_counter() - started)
    deletes = []
    while (batch := spool.take(100, 4 * 1024 * 1024)) is not None:
        started = time.perf_counter()
        spool.delivered(batch.batch_id)
        deletes.append(time.perf_counter() - started)
    spool.close()
    costs.sort()
    print(
        f"synchronous={mode:<6} append: median {statistics.median(costs) * 1e3:6.2f} ms, "
        f"p95 {costs[int(0.95 * len(costs))] * 1e3:6.2f} ms; "
        f"delete of a 100-snapshot batch: median {statistics.median(deletes) * 1e3:6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    body = encode(real_snapshot())
    print(f"snapshot: {len(body)} bytes of JSON; {args.appends} appends per mode")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for mode in ("FULL", "NORMAL", "FULL", "NORMAL"):  # twice, to see the noise
            measure(Path(tmp), mode, body, args.appends)  # type: ignore[arg-type]
            for old in Path(tmp).glob("spool-*"):
                old.unlink()


if __name__ == "__main__":
    main()
