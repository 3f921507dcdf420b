"""The embedded server's CPU per ingest request, without the network: the real app
(cli/server.py build_server, SQLite stream in a temp dir, digest not running) called as ASGI
in-process with the fleet simulator's zstd payloads, `--concurrency` requests in flight so
that the stream group-commits as under load. What it measures is the app's share of a
request (middleware, routing, key check, body read, zstd, validation, enqueue and the stream
writer's commit), not uvicorn's HTTP parsing, which bench/fleet_simulator.py includes.

    python bench/bench_ingest_request.py --snapshot snap.json
    python bench/bench_ingest_request.py --profile          # cProfile of one round, by tottime

Times are CPU time of this process (all threads) per request, per round of --requests;
min / median / max over --rounds, with the load average beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_simulator import Fleet, load_snapshot
from fleetscope.cli.server import build_server
from fleetscope.cli.settings import ServerSettings
from fleetscope.config.settings import settings_from
from fleetscope.store.auth import CREDENTIALS_FILE


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


async def post(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/ingest",
        "raw_path": b"/api/v1/ingest",
        "root_path": "",
        "query_string": b"",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # no disconnect while the answer is written
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def round_of(
    app: Any, bodies: list[bytes], headers: list[tuple[bytes, bytes]], c: int
) -> None:
    queue = list(reversed(bodies))

    async def client() -> None:
        while queue:
            status = await post(app, queue.pop(), headers)
            if status != 202:
                raise RuntimeError(f"ingest answered {status}")

    await asyncio.gather(*(client() for _ in range(c)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snapshot", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    fleet = Fleet.build(load_snapshot(args.snapshot), 1000)
    rng = random.Random(3)
    compressor = zstandard.ZstdCompressor(level=3)
    bodies = [compressor.compress(fleet.body(i % 1000, rng)) for i in range(args.requests)]
    with tempfile.TemporaryDirectory(prefix="fleetscope-bench-ingest-") as tmp:
        data_dir = Path(tmp) / "data"
        settings = settings_from(ServerSettings, {"data_dir": data_dir, "embedded_digest": False})
        server = build_server(settings)
        key = dict(
            line.split("=", 1) for line in (data_dir / CREDENTIALS_FILE).read_text().splitlines()
        )["agent_api_key"]
        headers = [
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-encoding", b"zstd"),
        ]
        app = server.app
        print(f"{args.requests} requests a round, {args.concurrency} in flight; before: {load()}")
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(round_of(app, bodies[:100], headers, args.concurrency))
            figures = []
            for _ in range(args.rounds):
                profile = cProfile.Profile() if args.profile else None
                started = time.process_time()
                if profile is not None:
                    profile.enable()
                loop.run_until_complete(round_of(app, bodies, headers, args.concurrency))
                if profile is not None:
                    profile.disable()
                    pstats.Stats(profile).sort_stats("tottime").print_stats(30)
                figures.append((time.process_time() - started) / args.requests)
        finally:
            loop.close()
            server.stream.close()
            server.engine.dispose()
    ms = sorted(f * 1000 for f in figures)
    print(
        f"ingest request: {statistics.median(ms):.3f} ms CPU per request"
        f" (min {ms[0]:.3f}, max {ms[-1]:.3f} over {args.rounds} rounds)"
    )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
