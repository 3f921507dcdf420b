"""A longer schemathesis run than the gate's (tests/system/test_api_fuzz.py): every operation of the
real server's OpenAPI, with an admin token and an agent key, --examples requests each (default
500), from --seed. Prints per operation the requests sent and the statuses seen, then every
failure (a 5xx, or an answer the document does not describe); exits 1 on any.

    python bench/fuzz_api.py [--examples 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.api_fuzz import credentials, fuzz
from tests.server import start_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for live in start_server(Path(tmp) / "data"):
            report = fuzz(live.server.app, credentials(live), args.examples, args.seed)
    for label, count in report.requests.items():
        print(f"{label:50} {count:6} requests, statuses {sorted(report.statuses[label])}")
    print(
        f"{sum(report.requests.values())} requests in {time.perf_counter() - started:.0f} s, "
        f"{len(report.failures)} failures"
    )
    for failure in report.failures:
        print("\n" + failure)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
