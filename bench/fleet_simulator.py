"""Fleet simulator: N agents (default 1,000 hosts every 10 s) posting realistic payloads to
`fleetscope server`, for a bounded duration; prints sustained ingest throughput and latency.

Payloads are built from a real snapshot (`fleetscope collect --once` on this machine, or
--snapshot FILE): its ~200 metric values (cpu, memory, network, disk, filesystem) and its 20
largest process groups; each host gets its own identity and scaled values, and each send its own
batch id, timestamp and varied gauges. As the agent does, only a host's first payload carries
the inventory audit (the agent sends it again only when it changes). One snapshot per payload,
zstd-compressed, with the agent's headers, over keep-alive HTTP/1.1 connections (asyncio
streams, bounded concurrency). Not httpx: profiled under this load its connection pool cost
the generator about as much CPU per request as the server spent ingesting it, and the
generator shares the machine's two cores with the server it measures.

    python bench/fleet_simulator.py --embedded --duration 60            # 1,000 hosts / 10 s
    python bench/fleet_simulator.py --embedded --duration 60 --rate 10  # the same hosts, 10x
    python bench/fleet_simulator.py --scaled --duration 60 --max 64     # closed loop, saturate

--embedded starts one `fleetscope server` on SQLite in a temp dir. --scaled starts 2 ingest
servers (--stream redis://… --database postgresql://…) and 2 `fleetscope worker`s, in a
PostgreSQL database and under a Redis key prefix of its own, dropped/deleted at the end.
--url targets a server already running (with --api-key).

"samples" are the numeric metric values of a snapshot outside the process groups (the figure
the issue's targets use); values incl. the process groups are printed beside them. Latency is
measured per request from send to answer. With a fixed schedule (--rate), a generator that falls
behind says so ("behind schedule"): the offered rate was then not sustained. At the end the
digest backlog (fleetscope_stream_depth from /metrics) is followed until it is 0 or --drain-timeout;
with its depth when the measured window began, that gives the rate digest kept up with ("digested
while measured"), which is the rate the server sustains: above it the backlog grows until the
stream's limit answers 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import zstandard

FLEETSCOPE = [sys.executable, "-m", "fleetscope.cli"]
PROCESS_GROUPS = 20
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def count_values(x: Any) -> int:
    if isinstance(x, bool):
        return 0
    if isinstance(x, int | float):
        return 1
    if isinstance(x, dict):
        return sum(count_values(v) for v in x.values())
    if isinstance(x, list):
        return sum(count_values(v) for v in x)
    return 0


def load_snapshot(path: Path | None) -> dict[str, Any]:
    if path is not None:
        text = path.read_text()
    else:
        text = subprocess.run(
            [*FLEETSCOPE, "collect", "--once"], capture_output=True, text=True, check=True
        ).stdout
    snap: dict[str, Any] = json.loads(text)
    groups = snap.get("processes", {}).get("groups", [])
    groups.sort(key=lambda g: g.get("resident_bytes") or 0, reverse=True)
    if groups:
        snap["processes"]["groups"] = groups[:PROCESS_GROUPS]
    return snap


GAUGE = re.compile(rb'"(utilization_percent|used_bytes|resident_bytes|load1)": ?([0-9.e+-]+)')


@dataclass
class Fleet:
    """Per-host payload templates: JSON bytes with __TS__/__BID__ holes and gauges to vary;
    `first` also carries the inventory, for each host's first payload."""

    templates: list[bytes]
    samples_per_payload: int
    values_per_payload: int
    groups_per_payload: int
    first: list[bytes] = field(default_factory=list)
    sent: set[int] = field(default_factory=set)

    @classmethod
    def build(cls, snap: dict[str, Any], hosts: int, seed: int = 1) -> Fleet:
        rng = random.Random(seed)
        processes = snap.get("processes", {})
        # The inventory's numbers (disk sizes, CPU counts) are not metric samples.
        samples = count_values(
            {k: v for k, v in snap.items() if k not in {"processes", "inventory"}}
        )
        samples -= count_values(snap.get("agent", {})) + count_values(snap.get("collectors", []))
        templates, first = [], []
        for host in range(hosts):
            s = json.loads(json.dumps(snap))
            scale = rng.uniform(0.5, 1.5)
            for section in ("memory", "cpu"):
                for key, value in list(s.get(section, {}).items()):
                    # Whole numbers count too: the agent writes 8e9 bytes as 8000000000.
                    number = isinstance(value, int | float) and not isinstance(value, bool)
                    if number and key != "utilization_percent":
                        s[section][key] = value * scale
            s["timestamp"] = "__TS__"
            body = {
                "schema_version": 1,
                "batch_id": "__BID__",
                "agent": {"version": "fleet-simulator"},
                "host": {"machine_id": f"sim-{host:06d}", "hostname": f"sim-host-{host:05d}"},
                "snapshots": [s],
            }
            first.append(json.dumps(body, separators=(",", ":")).encode())
            s.pop("inventory", None)
            templates.append(json.dumps(body, separators=(",", ":")).encode())
        return cls(
            templates,
            samples,
            count_values(snap)
            - count_values(snap.get("agent", {}))
            - count_values(snap.get("inventory", {})),
            len(processes.get("groups", [])),
            first,
        )

    def body(self, host: int, rng: random.Random, at: datetime | None = None) -> bytes:
        """One payload of this host at `at` (default: now), with a new batch id."""
        raw = self.templates[host] if host in self.sent else self.first[host]
        self.sent.add(host)
        now = (at or datetime.now(UTC)).isoformat().encode()
        raw = raw.replace(b'"__TS__"', b'"' + now + b'"', 1)
        raw = raw.replace(b'"__BID__"', b'"' + str(uuid.uuid4()).encode() + b'"', 1)

        def vary(m: re.Match[bytes]) -> bytes:
            value = float(m.group(2)) * rng.uniform(0.9, 1.1)
            if m.group(1) == b"utilization_percent":
                value = min(value, 100.0)
            return b'"' + m.group(1) + b'":' + repr(value).encode()

        return GAUGE.sub(vary, raw)


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    accepted: int = 0
    behind_max: float = 0.0
    bytes_sent: int = 0
    server_cpu: float | None = None  # CPU seconds of the fleetscope processes while measured
    generator_cpu: float = 0.0  # this process's
    cpu_at_end: float = 0.0  # the fleetscope processes' CPU seconds when the load stopped
    drained_cpu: float | None = None  # server_cpu plus what digesting the backlog took
    depth_from: float | None = None  # digest backlog when the measured window began


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU of these processes (all their threads), from /proc/PID/stat."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


class Connection:
    """One keep-alive HTTP/1.1 connection: a POST written whole, the answer read by its
    Content-Length (the server's JSON answers carry one). Reconnects after an error."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        ).encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes, timeout: float = 30.0) -> int:
        try:
            return await asyncio.wait_for(self._post(body), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            raise

    async def _post(self, body: bytes) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                self.streams = None
        await reader.readexactly(length)
        if self.streams is None:
            writer.close()
        return status

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def send(connection: Connection, body: bytes, *, results: Results, measuring: bool) -> None:
    started = time.perf_counter()
    try:
        status = await connection.post(body)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
        if measuring:
            results.errors += 1
        return
    if not measuring:
        return
    results.latencies.append(time.perf_counter() - started)
    results.statuses[status] = results.statuses.get(status, 0) + 1
    if 200 <= status < 300:
        results.accepted += 1
        results.bytes_sent += len(body)


async def run_load(
    args: argparse.Namespace, fleet: Fleet, urls: list[str], api_key: str, pids: list[int]
) -> tuple[Results, float]:
    """Send for warmup + duration seconds; measure the last `duration`. Returns the results and
    the measured wall time."""
    zstd = zstandard.ZstdCompressor(level=3)
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
        "Content-Encoding": "zstd",
    }
    rng = random.Random(2)
    results = Results()
    concurrency = args.max or args.concurrency
    # Per server, a pool of idle connections; a request takes one and gives it back.
    pools: list[asyncio.Queue[Connection]] = []
    for url in urls:
        pool: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(concurrency):
            pool.put_nowait(Connection(url, headers))
        pools.append(pool)

    async def post(host: int, body: bytes, measuring: bool) -> None:
        pool = pools[host % len(pools)]
        connection = await pool.get()
        try:
            await send(connection, body, results=results, measuring=measuring)
        finally:
            pool.put_nowait(connection)

    started = time.monotonic()
    measure_from = started + args.warmup
    end = measure_from + args.duration
    cpu_from: list[float] = []

    async def cpu_mark() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
        cpu_from.extend((cpu_seconds(pids), time.process_time()))
        base = urls[0].removesuffix("/api/v1/ingest")
        results.depth_from = await asyncio.to_thread(metric, base, "fleetscope_stream_depth")

    marker = asyncio.create_task(cpu_mark())
    if args.max:

        async def loop(n: int) -> None:
            k = n
            while (now := time.monotonic()) < end:
                host = k % args.hosts
                body = zstd.compress(fleet.body(host, rng))
                await post(host, body, now >= measure_from)
                k += concurrency

        await asyncio.gather(*(loop(n) for n in range(concurrency)))
    else:
        gap = args.interval / (args.hosts * args.rate)  # between consecutive sends
        semaphore = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def bounded(host: int, body: bytes, measuring: bool) -> None:
            try:
                await post(host, body, measuring)
            finally:
                semaphore.release()

        k = 0
        while True:
            due = started + k * gap
            if due >= end:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif due >= measure_from:
                results.behind_max = max(results.behind_max, -delay)
            host = k % args.hosts
            body = zstd.compress(fleet.body(host, rng))
            await semaphore.acquire()
            task = asyncio.create_task(bounded(host, body, due >= measure_from))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
        await asyncio.gather(*tasks)
    await marker
    if pids:
        results.cpu_at_end = cpu_seconds(pids)
        results.server_cpu = results.cpu_at_end - cpu_from[0]
    results.generator_cpu = time.process_time() - cpu_from[1]
    for pool in pools:
        while not pool.empty():
            await pool.get_nowait().close()
    return results, time.monotonic() - measure_from


def metric(base: str, name: str) -> float | None:
    try:
        text = httpx.get(f"{base}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def follow_backlog(base: str, timeout: float) -> tuple[float | None, float | None, float]:
    """(depth when the load stopped, depth at the end, seconds until 0 or timeout)."""
    started = time.monotonic()
    first = depth = metric(base, "fleetscope_stream_depth")
    while depth is not None and depth > 0 and time.monotonic() - started < timeout:
        time.sleep(0.5)
        depth = metric(base, "fleetscope_stream_depth")
    return first, depth, time.monotonic() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{base}: server exited during start-up")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} not ready after {timeout} s")


class Cluster:
    """fleetscope processes this script started; stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **env}
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (child keeps it)
        process = subprocess.Popen(
            [*FLEETSCOPE, *args], stdout=log, stderr=subprocess.STDOUT, env=self.env
        )
        log.close()
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def start_embedded(stack: ExitStack, workdir: Path) -> tuple[list[str], str, list[int]]:
    cluster = Cluster(workdir, {"FLEETSCOPE_ADMIN_PASSWORD": "bench"})
    stack.callback(cluster.stop)
    data = workdir / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = cluster.start("server", ["server", "--data-dir", str(data), "--port", str(port)])
    wait_ready(base, process)
    return [base], credentials(data), [p.pid for p in cluster.processes]


def start_scaled(
    stack: ExitStack, workdir: Path, postgres: str, redis_url: str, *, ingest: int, workers: int
) -> tuple[list[str], str, list[int]]:
    import redis  # noqa: PLC0415
    import sqlalchemy as sa  # noqa: PLC0415

    from fleetscope.store.engine import make_engine  # noqa: PLC0415

    admin = make_engine(postgres).execution_options(isolation_level="AUTOCOMMIT")
    name = f"fleetscope_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    stack.callback(drop)
    prefix = f"fleetscope-bench:{secrets.token_hex(6)}"
    client = redis.Redis.from_url(redis_url)

    def delete_keys() -> None:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    stack.callback(delete_keys)
    database = sa.make_url(admin.url).set(database=name, drivername="postgresql")
    stores = ["--stream", redis_url, "--database", database.render_as_string(hide_password=False)]
    cluster = Cluster(
        workdir, {"FLEETSCOPE_ADMIN_PASSWORD": "bench", "FLEETSCOPE_STREAM_PREFIX": prefix}
    )
    stack.callback(cluster.stop)
    bases = []
    for n in range(ingest):
        data = workdir / f"server{n}"
        port = free_port()
        bases.append(f"http://127.0.0.1:{port}")
        args = ["server", "--data-dir", str(data), "--port", str(port), *stores]
        wait_ready(bases[-1], cluster.start(f"server{n}", args))  # the first one migrates
    for n in range(workers):
        data = workdir / f"worker{n}"
        cluster.start(
            f"worker{n}", ["worker", *stores, "--consumer", f"bench-{n}", "--data-dir", str(data)]
        )
    return bases, credentials(workdir / "server0"), [p.pid for p in cluster.processes]


def credentials(data_dir: Path) -> str:
    for line in (data_dir / "initial-credentials").read_text().splitlines():
        if line.startswith("agent_api_key="):
            return line.split("=", 1)[1]
    raise SystemExit(f"no agent key in {data_dir}/initial-credentials")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--embedded", action="store_true", help="one server on SQLite")
    where.add_argument("--scaled", action="store_true", help="2 ingest + 2 workers, PG + Redis")
    where.add_argument("--url", nargs="+", help="ingest URL(s) of servers already running")
    parser.add_argument("--api-key", help="with --url")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between snapshots")
    parser.add_argument("--rate", type=float, default=1.0, help="multiplier of the send rate")
    parser.add_argument("--max", type=int, default=0, metavar="C", help="closed loop, C in flight")
    parser.add_argument("--concurrency", type=int, default=64, help="max requests in flight")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--snapshot", type=Path, help="a `fleetscope collect --once` output")
    parser.add_argument("--ingest", type=int, default=2, help="--scaled: ingest processes")
    parser.add_argument("--workers", type=int, default=2, help="--scaled: worker processes")
    parser.add_argument(
        "--postgres", default=os.environ.get("FLEETSCOPE_BENCH_POSTGRES", DEFAULT_POSTGRES)
    )
    parser.add_argument("--redis", default=os.environ.get("FLEETSCOPE_BENCH_REDIS", DEFAULT_REDIS))
    args = parser.parse_args()

    snap = load_snapshot(args.snapshot)
    fleet = Fleet.build(snap, args.hosts)
    sizes = [len(t) for t in fleet.templates[:10]]
    zsize = len(zstandard.ZstdCompressor(level=3).compress(fleet.templates[0]))
    print(
        f"payload: 1 snapshot, {fleet.samples_per_payload} metric values + "
        f"{fleet.groups_per_payload} process groups ({fleet.values_per_payload} values in all), "
        f"{statistics.mean(sizes) / 1024:.1f} KiB JSON, {zsize / 1024:.1f} KiB zstd"
    )
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="fleet-sim-") as tmp:
        workdir = Path(tmp)
        if args.embedded:
            mode = "embedded (1 server, SQLite)"
            bases, key, pids = start_embedded(stack, workdir)
        elif args.scaled:
            mode = f"scaled ({args.ingest} ingest + {args.workers} workers, PostgreSQL + Redis)"
            bases, key, pids = start_scaled(
                stack, workdir, args.postgres, args.redis, ingest=args.ingest, workers=args.workers
            )
        else:
            mode = f"external {args.url}"
            bases, key, pids = [u.rstrip("/") for u in args.url], args.api_key, []
        urls = [f"{base}/api/v1/ingest" for base in bases]
        if args.max:
            load = f"closed loop, {args.max} requests in flight"
        else:
            offered = args.hosts * args.rate / args.interval
            load = (
                f"{args.hosts} hosts every {args.interval / args.rate:g} s "
                f"(offered {offered:.0f} payloads/s, {offered * fleet.samples_per_payload:,.0f} "
                f"samples/s)"
            )
        print(f"mode: {mode}; load: {load}; {args.duration:g} s measured after {args.warmup:g} s")
        results, elapsed = asyncio.run(run_load(args, fleet, urls, key, pids))
        drain = follow_backlog(bases[0], args.drain_timeout) if not args.url else None
        rolled_up = metric(bases[0], "fleetscope_rollup_buckets_total")
        if results.server_cpu is not None:
            # Until the backlog is digested: the CPU that the accepted payloads cost in all.
            results.drained_cpu = results.server_cpu + cpu_seconds(pids) - results.cpu_at_end
        report(args, fleet, results, elapsed, drain)
        if rolled_up is not None and args.embedded:  # the workers' digest is not in /metrics
            print(f"rollup buckets recomputed during the run: {rolled_up:.0f}")
        if not args.url:
            for log in sorted(workdir.glob("*.log")):
                text = log.read_text()
                if "Traceback" in text:
                    print(f"{log.name} has tracebacks:\n{text[-2000:]}")


def report(
    args: argparse.Namespace,
    fleet: Fleet,
    results: Results,
    elapsed: float,
    drain: tuple[float | None, float | None, float] | None,
) -> None:
    lat = sorted(results.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    payloads = results.accepted / elapsed
    print(
        f"requests: {sum(results.statuses.values())}, statuses {results.statuses}, "
        f"errors {results.errors}"
    )
    print(f"accepted payloads/s: {payloads:,.0f}")
    print(f"accepted samples/s:  {payloads * fleet.samples_per_payload:,.0f} (metric values)")
    print(f"accepted values/s:   {payloads * fleet.values_per_payload:,.0f} (incl. process groups)")
    print(f"wire: {results.bytes_sent / elapsed / 1e6:.2f} MB/s zstd")
    print(f"latency: p50 {pct(0.50):.1f} ms, p99 {pct(0.99):.1f} ms, max {pct(1.0):.1f} ms")
    accepted = max(results.accepted, 1)
    if results.server_cpu is not None:
        # CPU per payload does not depend on what else runs on the machine, unlike payloads/s
        # (PostgreSQL's and Redis's own CPU is not in it).
        server_ms = results.server_cpu * 1000 / accepted
        print(
            f"CPU per accepted payload: fleetscope processes {server_ms:.2f} ms,"
            f" load generator {results.generator_cpu * 1000 / accepted:.2f} ms"
        )
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if not args.max:
        print(f"behind schedule: at most {results.behind_max * 1000:.0f} ms")
    if drain is not None and drain[0] is not None and results.depth_from is not None:
        # What digest kept up with: accepted minus what the backlog grew by while measured.
        digested = (results.accepted - (drain[0] - results.depth_from)) / elapsed
        print(
            f"digested while measured: {digested:,.0f} payloads/s,"
            f" {digested * fleet.samples_per_payload:,.0f} samples/s"
            f" (backlog {results.depth_from:.0f} -> {drain[0]:.0f})"
        )
    if drain is not None:
        first, last, seconds = drain
        caught_up = "caught up" if last == 0 else f"still {last:.0f} undigested"
        print(
            f"digest backlog when the load stopped: {first} messages; "
            f"{caught_up} after {seconds:.1f} s"
        )
    if results.drained_cpu is not None:
        print(
            "CPU per accepted payload incl. digesting the backlog: "
            f"{results.drained_cpu * 1000 / max(results.accepted, 1):.2f} ms"
        )


if __name__ == "__main__":
    main()
