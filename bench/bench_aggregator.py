"""The aggregator batch API (POST /api/v1/aggregator/metrics/batch/) into the embedded server,
end to end, under a TSBS-shaped load: a real `fleetscope server` process (SQLite stream and
store in a temp dir, digest in the process) on 127.0.0.1, as bench/bench_remote_write.py starts
one.

The load is TSBS' devops use case (github.com/timescale/tsbs, cmd/tsbs_generate_data with
--use-case=devops): --hosts hosts, each with the 10 tags of a devops host (hostname, region,
datacenter, rack, os, arch, team, service, service_version, service_environment) sent as the
sample's labels, and the 101 fields of its 9 measurements (cpu, diskio, disk, kernel, mem, net,
nginx, postgresql, redis) as metric names `<measurement>_<field>`, every host every 10 s
(TSBS' default log interval). The samples of one interval (hosts x 101) are cut every
--samples-per-request samples; the next interval has a later time, so no sample repeats.
The bodies are encoded before the clock starts; --concurrency httpx senders post them.

Printed: samples/s accepted (answered 202) while sending, samples/s stored end to end (from
the first request until the stream is empty, then counted in the store: the values of every
snapshot of every stored row), the server's CPU per sample (utime + stime of its process from
/proc/<pid>/stat, all threads), and beside them Prometheus' own remote-write receive rate as
recorded in ../shared/MEASURED.md. The senders run on the same 2 cores.

    python bench/bench_aggregator.py [--samples 1000000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from fleetscope.store.chunks import chunk_times

REPO = Path(__file__).resolve().parent.parent
MEASURED = REPO.parent / "shared" / "MEASURED.md"
INTERVAL_S = 10
PATH = "/api/v1/aggregator/metrics/batch/"

# TSBS devops: measurement -> fields (pkg/data/usecases/devops/*.go), 101 fields in all.
MEASUREMENTS: dict[str, tuple[str, ...]] = {
    "cpu": (
        "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq",
        "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice",
    ),
    "diskio": (
        "reads", "writes", "read_bytes", "write_bytes", "read_time", "write_time", "io_time",
    ),
    "disk": (
        "total", "free", "used", "used_percent", "inodes_total", "inodes_free", "inodes_used",
    ),
    "kernel": (
        "boot_time", "interrupts", "context_switches", "processes_forked", "disk_pages_in",
        "disk_pages_out",
    ),
    "mem": (
        "total", "available", "used", "free", "cached", "buffered", "used_percent",
        "available_percent", "buffered_percent",
    ),
    "net": (
        "bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in", "err_out",
        "drop_in", "drop_out",
    ),
    "nginx": ("accepts", "active", "handled", "reading", "requests", "waiting", "writing"),
    "postgresql": (
        "numbackends", "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned",
        "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "conflicts", "temp_files",
        "temp_bytes", "deadlocks", "blk_read_time", "blk_write_time",
    ),
    "redis": (
        "uptime_in_seconds", "total_connections_received", "expired_keys", "evicted_keys",
        "keyspace_hits", "keyspace_misses", "instantaneous_ops_per_sec",
        "instantaneous_input_kbps", "instantaneous_output_kbps", "connected_clients",
        "used_memory", "used_memory_rss", "used_memory_peak", "used_memory_lua",
        "rdb_changes_since_last_save", "sync_full", "sync_partial_ok", "sync_partial_err",
        "pubsub_channels", "pubsub_patterns", "latest_fork_usec", "connected_slaves",
        "master_repl_offset", "repl_backlog_active", "repl_backlog_size",
        "repl_backlog_histlen", "mem_fragmentation_ratio", "used_cpu_sys", "used_cpu_user",
        "used_cpu_sys_children", "used_cpu_user_children",
    ),
}  # fmt: skip
METRICS = tuple(f"{m}_{f}" for m, fields in MEASUREMENTS.items() for f in fields)
# TSBS devops tag values (pkg/data/usecases/devops/host.go).
REGIONS = {
    "us-east-1": ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"),
    "us-west-1": ("us-west-1a", "us-west-1b"),
    "us-west-2": ("us-west-2a", "us-west-2b", "us-west-2c"),
    "eu-west-1": ("eu-west-1a", "eu-west-1b", "eu-west-1c"),
    "eu-central-1": ("eu-central-1a", "eu-central-1b"),
    "ap-southeast-1": ("ap-southeast-1a", "ap-southeast-1b"),
    "ap-southeast-2": ("ap-southeast-2a", "ap-southeast-2b"),
    "ap-northeast-1": ("ap-northeast-1a", "ap-northeast-1c"),
    "sa-east-1": ("sa-east-1a", "sa-east-1b", "sa-east-1c"),
}
OSES = ("Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10")
ARCHES = ("x64", "x86")
TEAMS = ("SF", "NYC", "LON", "CHI")
ENVIRONMENTS = ("production", "staging", "test")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def host_tags(host: int) -> dict[str, str]:
    """A devops host's 10 tags, chosen from TSBS' value lists by the host's number (TSBS draws
    them at random with a fixed seed; any fixed choice makes the same shape)."""
    regions = list(REGIONS)
    region = regions[host % len(regions)]
    zones = REGIONS[region]
    return {
        "hostname": f"host_{host}",
        "region": region,
        "datacenter": zones[host // len(regions) % len(zones)],
        "rack": str(host * 7 % 100),
        "os": OSES[host % len(OSES)],
        "arch": ARCHES[host % len(ARCHES)],
        "team": TEAMS[host % len(TEAMS)],
        "service": str(host * 3 % 20),
        "service_version": str(host % 2),
        "service_environment": ENVIRONMENTS[host % len(ENVIRONMENTS)],
    }


def requests(args: argparse.Namespace, start_s: int) -> list[bytes]:
    """Every host's 101 fields each interval, in that order, cut every samples_per_request."""
    hosts = [host_tags(h) for h in range(args.hosts)]
    bodies: list[bytes] = []
    metrics: list[dict[str, object]] = []
    count = 0
    interval = 0
    while count < args.samples:
        at = start_s + interval * INTERVAL_S
        for tags in hosts:
            for index, name in enumerate(METRICS):
                metrics.append(
                    {
                        "device_name": tags["hostname"],
                        "metric_name": name,
                        "value": float((interval * 131 + index * 17) % 1000) / 8,
                        "timestamp": at,
                        "labels": tags,
                    }
                )
                count += 1
                if len(metrics) == args.samples_per_request or count == args.samples:
                    bodies.append(json.dumps({"metrics": metrics}).encode())
                    metrics = []
                if count == args.samples:
                    break
            if count == args.samples:
                break
        interval += 1
    return bodies


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def send_all(base: str, key: str, bodies: list[bytes], concurrency: int) -> int:
    """Post every body; the samples the server said it accepted."""
    queue = list(reversed(bodies))
    accepted = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:

        async def sender() -> None:
            nonlocal accepted
            while queue:
                body = queue.pop()
                while True:
                    response = await client.post(PATH, content=body)
                    if response.status_code == 202:
                        accepted += int(response.json()["samples"])
                        break
                    if response.status_code not in (429, 503):
                        raise RuntimeError(f"{response.status_code}: {response.text}")
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return accepted


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of the process, all its threads (proc(5), fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_samples(db: Path) -> int:
    """Values stored: for every row, its snapshots (a chunk row holds several) times the
    series of its layout. A snapshot stored twice counts twice."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        widths = dict(conn.execute("SELECT id, json_array_length(series) FROM metric_layouts"))
        total = 0
        for ts_ms, layout_id, blob in conn.execute(
            "SELECT ts_ms, layout_id, vals FROM metric_frames"
        ):
            total += len(chunk_times(int(ts_ms), bytes(blob))[0]) * int(widths[layout_id])
    return total


def prometheus_rate() -> str:
    if not MEASURED.is_file():
        return f"(not found: {MEASURED})"
    for line in MEASURED.read_text().splitlines():
        if "remote-write receive" in line:
            return re.sub(r"\s*\|\s*", " | ", line.strip(" |"))
    return "(no remote-write line in MEASURED.md)"


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready in 120 s")


def wait_digested(base: str) -> None:
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        depth = re.search(
            r"^fleetscope_stream_depth (\S+)$", httpx.get(f"{base}/metrics").text, re.M
        )
        if depth is not None and float(depth.group(1)) == 0:
            return
        time.sleep(0.1)
    raise SystemExit("the stream was not empty after 1800 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--samples-per-request", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    start_s = (int(time.time()) - 3 * 3600) // INTERVAL_S * INTERVAL_S
    bodies = requests(args, start_s)
    print(
        f"{args.samples:,} samples: {args.hosts} hosts x {len(METRICS)} TSBS devops fields, "
        f"10 tags each, every {INTERVAL_S} s; {args.samples_per_request} samples a request "
        f"({len(bodies)} requests, {sum(map(len, bodies)) / len(bodies) / 1024:.0f} KiB JSON "
        f"each), {args.concurrency} senders"
    )
    with tempfile.TemporaryDirectory(prefix="fleetscope-bench-agg-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 (closed below)
        env = {**os.environ, "FLEETSCOPE_ADMIN_PASSWORD": "bench"}
        server = subprocess.Popen(
            [sys.executable, "-m", "fleetscope.cli", "server", "--data-dir", str(data_dir),
             "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        try:
            wait_ready(base)
            key = dict(
                line.split("=", 1)
                for line in (data_dir / "initial-credentials").read_text().splitlines()
            )["agent_api_key"]
            print(f"before: {load()}")
            cpu_before = process_cpu_seconds(server.pid)
            started = time.perf_counter()
            accepted = asyncio.run(send_all(base, key, bodies, args.concurrency))
            accepted_s = time.perf_counter() - started
            cpu_accepted = process_cpu_seconds(server.pid) - cpu_before
            wait_digested(base)
            stored_s = time.perf_counter() - started
            cpu_total = process_cpu_seconds(server.pid) - cpu_before
            print(f"after: {load()}")
            stored = stored_samples(data_dir / "fleetscope.db")
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()
    print(f"accepted (202)       {accepted / accepted_s:>12,.0f} samples/s  ({accepted_s:.1f} s)")
    print(f"stored end to end    {stored / stored_s:>12,.0f} samples/s  ({stored_s:.1f} s)")
    print(
        f"fleetscope CPU       {cpu_accepted / args.samples * 1e6:>12.1f} µs/sample to accept, "
        f"{cpu_total / args.samples * 1e6:.1f} µs/sample accepted and stored"
    )
    print(f"stored / accepted / sent  {stored:,} / {accepted:,} / {args.samples:,}")
    print(f"Prometheus (MEASURED.md): {prometheus_rate()}")
    if stored != args.samples or accepted != args.samples:
        raise SystemExit(f"stored {stored}, accepted {accepted} of {args.samples} sent")


if __name__ == "__main__":
    main()
