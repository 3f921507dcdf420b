"""A worker SIGKILLed mid-run: how long until the batches it held are stored by the other.

One `fleetscope server` (--stream redis://… --database postgresql://…, in a PostgreSQL database
and under a Redis key prefix of its own, dropped/deleted at the end) takes a steady load of
real-snapshot payloads (bench/fleet_simulator.py's Fleet, one snapshot each, 1 s apart per
host). Each run starts 2 `fleetscope worker`s (bench-a-N, bench-b-N), lets them digest for
--warmup seconds, then freezes bench-a (SIGSTOP) at a moment it holds a batch (messages
pending for it in the consumer group) and SIGKILLs it. The clock starts at the SIGSTOP: from
then on bench-a beats no more. It stops when every message bench-a held is gone from the stream:
workers XACK + XDEL only after their commit, so gone means stored. bench-b is then stopped
with SIGTERM and the next run starts two fresh workers.

At the end one more worker drains the stream, and every payload answered 202 is checked to
be stored exactly once (ingested_batches and metric_frames rows == payloads accepted).

    flock /tmp/fleetscope-heavy.lock .venv/bin/python bench/bench_takeover.py --runs 5
        [--lease 5] [--rate 100] [--hosts 100] [--warmup 3]

Prints each run (seconds from the kill to the last held batch stored, how many messages bench-a
held) and the median and max over the runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_simulator import (
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    Cluster,
    Fleet,
    credentials,
    free_port,
    load_snapshot,
    wait_ready,
)
from fleetscope.store.engine import make_engine

SHARDS = 4  # the default stream_shards


class Sender:
    """Posts payloads at `rate` per second from `threads` threads until stopped; remembers
    how many were answered 202."""

    def __init__(self, base: str, key: str, fleet: Fleet, rate: float, threads: int = 2) -> None:
        self.base, self.key, self.fleet = base, key, fleet
        self.interval = threads / rate
        self.threads = threads
        self.accepted = 0
        self.refused: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        self._stop.clear()
        self._workers = [
            threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(self.threads)
        ]
        for thread in self._workers:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=30)

    def _send(self, n: int) -> None:
        rng = random.Random(n)
        hosts = len(self.fleet.templates)
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as client:
            host, due = n, time.monotonic()
            while not self._stop.is_set():
                with self._lock:  # Fleet.body keeps which hosts sent their first payload
                    body = self.fleet.body(host, rng, datetime.now(UTC))
                try:
                    status = client.post("/api/v1/ingest", content=body).status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    if status == 202:
                        self.accepted += 1
                    else:
                        self.refused[status] = self.refused.get(status, 0) + 1
                host = (host + self.threads) % hosts
                due += self.interval
                self._stop.wait(max(0.0, due - time.monotonic()))


def pending_ids(client: redis.Redis, prefix: str, consumer: str) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    for shard in range(SHARDS):
        with contextlib.suppress(redis.ResponseError):  # no group before a worker read
            rows = client.xpending_range(
                f"{prefix}:stream:{shard}", "digest", "-", "+", 100_000, consumername=consumer
            )
            found |= {(shard, row["message_id"].decode()) for row in rows}
    return found


def still_in_stream(client: redis.Redis, prefix: str, ids: set[tuple[int, str]]) -> int:
    pipe = client.pipeline(transaction=False)
    for shard, entry in ids:
        pipe.xrange(f"{prefix}:stream:{shard}", entry, entry, count=1)
    return sum(1 for found in pipe.execute() if found)


def depth(client: redis.Redis, prefix: str) -> int:
    return sum(int(client.xlen(f"{prefix}:stream:{shard}")) for shard in range(SHARDS))


def one_run(
    cluster: Cluster, client: redis.Redis, prefix: str, stores: list[str], *, n: int, warmup: float
) -> tuple[float, int]:
    a_name, b_name = f"bench-a-{n}", f"bench-b-{n}"
    a = cluster.start(a_name, ["worker", *stores, "--consumer", a_name])
    b = cluster.start(b_name, ["worker", *stores, "--consumer", b_name])
    deadline = time.monotonic() + 60
    while not (pending_ids(client, prefix, a_name) and pending_ids(client, prefix, b_name)):
        if time.monotonic() > deadline or a.poll() is not None or b.poll() is not None:
            raise SystemExit(f"run {n}: the workers did not start digesting (see *.log)")
        time.sleep(0.02)
    time.sleep(warmup)
    while True:  # freeze bench-a at a moment it holds a batch
        if time.monotonic() > deadline + warmup:
            raise SystemExit(f"run {n}: {a_name} never held a batch")
        if pending_ids(client, prefix, a_name):
            a.send_signal(signal.SIGSTOP)
            stopped = time.monotonic()
            held = pending_ids(client, prefix, a_name)
            if held:
                break
            a.send_signal(signal.SIGCONT)
        time.sleep(0.005)
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=10)
    while still_in_stream(client, prefix, held):
        if time.monotonic() - stopped > 120:
            raise SystemExit(f"run {n}: {a_name}'s batches not stored within 120 s")
        if b.poll() is not None:
            raise SystemExit(f"run {n}: {b_name} exited")
        time.sleep(0.01)
    took = time.monotonic() - stopped
    b.send_signal(signal.SIGTERM)
    if b.wait(timeout=60) != 0:
        raise SystemExit(f"run {n}: {b_name} did not exit 0 on SIGTERM")
    return took, len(held)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lease", type=float, default=5.0, help="stream_lease_seconds")
    parser.add_argument("--rate", type=float, default=100.0, help="payloads per second")
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before each kill")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    args = parser.parse_args()

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="takeover-")))
        admin = make_engine(args.postgres).execution_options(isolation_level="AUTOCOMMIT")
        name = f"fleetscope_bench_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()

        stack.callback(drop)
        prefix = f"fleetscope-bench:{secrets.token_hex(6)}"
        client = redis.Redis.from_url(args.redis)

        def delete_keys() -> None:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()

        stack.callback(delete_keys)
        database = sa.make_url(admin.url).set(database=name, drivername="postgresql")
        url = database.render_as_string(hide_password=False)
        stores = ["--stream", args.redis, "--database", url]
        cluster = Cluster(
            workdir,
            {
                "FLEETSCOPE_ADMIN_PASSWORD": "bench",
                "FLEETSCOPE_STREAM_PREFIX": prefix,
                "FLEETSCOPE_STREAM_LEASE_SECONDS": str(args.lease),
            },
        )
        stack.callback(cluster.stop)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_dir = workdir / "server"
        server = cluster.start(
            "server", ["server", "--data-dir", str(server_dir), "--port", str(port), *stores]
        )
        wait_ready(base, server)
        fleet = Fleet.build(load_snapshot(None), args.hosts)
        sender = Sender(base, credentials(server_dir), fleet, args.rate)
        print(
            f"lease {args.lease} s, {args.rate:g} payloads/s from {args.hosts} hosts "
            f"({fleet.samples_per_payload} samples each), 2 workers, PostgreSQL + Redis, "
            f"pid {os.getpid()}",
            flush=True,
        )
        results: list[tuple[float, int]] = []
        sender.start()
        try:
            for n in range(args.runs):
                took, held = one_run(cluster, client, prefix, stores, n=n, warmup=args.warmup)
                results.append((took, held))
                print(
                    f"run {n + 1}: {held} messages held by the killed worker, "
                    f"all stored {took:.2f} s after the kill",
                    flush=True,
                )
        finally:
            sender.stop()
        drain = cluster.start("drain", ["worker", *stores, "--consumer", "bench-drain"])
        deadline = time.monotonic() + 300
        while depth(client, prefix) > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        drain.send_signal(signal.SIGTERM)
        drain.wait(timeout=60)
        engine = make_engine(url)
        with engine.connect() as conn:
            batches = conn.execute(sa.text("SELECT count(*) FROM ingested_batches")).scalar_one()
            frames = conn.execute(sa.text("SELECT count(*) FROM metric_frames")).scalar_one()
        engine.dispose()
        times = [took for took, _ in results]
        print(
            f"kill -> last held batch stored over {len(times)} runs: "
            f"median {statistics.median(times):.2f} s, max {max(times):.2f} s "
            f"(min {min(times):.2f} s)"
        )
        exact = batches == frames == sender.accepted
        print(
            f"payloads accepted {sender.accepted} (refused {sender.refused or 'none'}), "
            f"stored batches {batches}, frames {frames}: "
            f"{'each exactly once' if exact else 'MISMATCH'}"
        )
        if not exact:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
