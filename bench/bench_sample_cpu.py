"""CPU per stored sample of the embedded server, ingest and digest, in one process without the
network: the real app (cli/server.py build_server: SQLite stream and store in a temp dir) is
called as ASGI with the fleet simulator's zstd payloads (bench_ingest_request.py's client),
then its digest worker digests the backlog batch by batch (DigestWorker.run_once, as its thread
does). Each phase's CPU time (this process, all threads) is divided by the samples stored; a
sample is one of the snapshot's metric values outside the process groups, as the fleet
simulator and issue 17 count them. What it leaves out: uvicorn's HTTP parsing and the
simulator's own CPU (bench/fleet_simulator.py includes the first), and rollups (the
payloads' buckets have not settled while the bench runs).

    python bench/bench_sample_cpu.py --snapshot snap.json             # 5 rounds of 1,000
    python bench/bench_sample_cpu.py --snapshot snap.json --profile digest
    valgrind --tool=callgrind python bench/bench_sample_cpu.py --rounds 1 --requests 200

Prints min / median / max over --rounds, with the load average beside them; --profile runs
cProfile over that phase of the last round and prints the functions by cumulative and own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleetscope
from bench_ingest_request import round_of
from fleet_simulator import Fleet, load_snapshot
from fleetscope.cli.server import build_server
from fleetscope.cli.settings import ServerSettings
from fleetscope.config.settings import settings_from
from fleetscope.store.auth import CREDENTIALS_FILE


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snapshot", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=1000, help="payloads per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", choices=["ingest", "digest"], default=None)
    args = parser.parse_args()

    fleet = Fleet.build(load_snapshot(args.snapshot), 1000)
    rng = random.Random(3)
    compressor = zstandard.ZstdCompressor(level=3)
    rounds = [
        [compressor.compress(fleet.body(i % 1000, rng)) for i in range(args.requests)]
        for _ in range(args.rounds + 1)
    ]
    samples = fleet.samples_per_payload * args.requests
    ingest_us: list[float] = []
    digest_us: list[float] = []
    with tempfile.TemporaryDirectory(prefix="fleetscope-bench-sample-") as tmp:
        data_dir = Path(tmp) / "data"
        # Digest in this process, as `fleetscope server` runs it (its backpressure and the
        # handoff of ingest's decoded payloads, cli/wiring.py make_stream), but driven here
        # batch by batch: the app's lifespan, which would start its thread, is not run.
        settings = settings_from(ServerSettings, {"data_dir": data_dir, "embedded_digest": True})
        server = build_server(settings)
        key = dict(
            line.split("=", 1) for line in (data_dir / CREDENTIALS_FILE).read_text().splitlines()
        )["agent_api_key"]
        headers = [
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-encoding", b"zstd"),
        ]
        digest = server.digest
        print(f"fleetscope from {Path(fleetscope.__file__).parent}")
        print(
            f"{args.requests} payloads a round ({fleet.samples_per_payload} samples each),"
            f" {args.concurrency} in flight; before: {load()}"
        )
        # As the server does while serving (cli/server.py tune_gc).
        gc.freeze()
        gc.set_threshold(10_000, *gc.get_threshold()[1:])
        loop = asyncio.new_event_loop()
        try:
            for n, bodies in enumerate(rounds):
                last = n == len(rounds) - 1
                profile = cProfile.Profile(time.process_time)  # CPU, not the fsyncs
                started = time.process_time()
                if last and args.profile == "ingest":
                    profile.enable()
                loop.run_until_complete(round_of(server.app, bodies, headers, args.concurrency))
                profile.disable()
                ingested = time.process_time()
                if last and args.profile == "digest":
                    profile.enable()
                stored = 0
                while stored < len(bodies):
                    stored += digest.run_once(block_seconds=0.1)
                profile.disable()
                digested = time.process_time()
                if n == 0:  # warm-up: hosts and layouts new, first inventory audits
                    continue
                ingest_us.append((ingested - started) / samples * 1e6)
                digest_us.append((digested - ingested) / samples * 1e6)
                if last and args.profile is not None:
                    stats = pstats.Stats(profile)
                    stats.sort_stats("cumulative").print_stats(45)
                    stats.sort_stats("tottime").print_stats(35)
        finally:
            loop.close()
            server.stream.close()
            server.engine.dispose()
    for name, figures in (
        ("ingest", ingest_us),
        ("digest", digest_us),
        ("both", [a + b for a, b in zip(ingest_us, digest_us, strict=True)]),
    ):
        us = sorted(figures)
        print(
            f"{name:>6}: {statistics.median(us):.2f} µs CPU per sample"
            f" (min {us[0]:.2f}, max {us[-1]:.2f} over {len(us)} rounds)"
        )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
