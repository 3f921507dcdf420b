"""Prometheus remote_write into the embedded server, end to end: a real `fleetscope server`
process (SQLite stream and store in a temp dir, digest in the process) on 127.0.0.1 takes
snappy protobuf WriteRequests shaped like Prometheus' (one queue shard's cut of scrapes:
--hosts targets of --series series each, scraped every 15 s, --samples-per-request samples
a request, as max_samples_per_send), from --concurrency senders at once (Prometheus' shards).

Printed: samples/s received (answered 204) while sending, samples/s stored end to end (from
the first request to the last sample digested, counted in the store), the server's CPU per
sample (its process, all threads), and beside them Prometheus' own remote-write receive rate
as recorded in ../shared/MEASURED.md. The senders run on the same 2 cores; their requests
are encoded before the clock starts.

    python bench/bench_remote_write.py [--samples 1000000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cramjam
import httpx
import psutil

from fleetscope.ingest.prompb.remote_pb2 import WriteRequest

REPO = Path(__file__).resolve().parent.parent
MEASURED = REPO.parent / "shared" / "MEASURED.md"
SCRAPE_MS = 15_000
# node_exporter-like families: (name, label, values of the label)
FAMILIES = (
    ("node_cpu_seconds_total", "mode", ("idle", "user", "system", "iowait", "irq", "steal")),
    ("node_network_receive_bytes_total", "device", ("eth0", "eth1", "lo")),
    ("node_disk_read_bytes_total", "device", ("sda", "sdb", "nvme0n1")),
    ("node_filesystem_avail_bytes", "mountpoint", ("/", "/var", "/home", "/boot")),
)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def series_labels(hosts: int, per_host: int) -> list[list[tuple[str, str]]]:
    out = []
    for host in range(hosts):
        instance = f"web-{host:04d}:9100"
        for index in range(per_host):
            name, label, values = FAMILIES[index % len(FAMILIES)]
            out.append(
                [
                    ("__name__", name),
                    ("instance", instance),
                    ("job", "node"),
                    (label, values[index // len(FAMILIES) % len(values)]),
                    ("n", str(index)),
                ]
            )
    return out


def requests(args: argparse.Namespace, start_ms: int) -> list[bytes]:
    """The scrapes of every series, in scrape order, cut every samples_per_request samples."""
    labels = series_labels(args.hosts, args.series)
    bodies: list[bytes] = []
    request = WriteRequest()
    count = 0
    scrape = 0
    while count < args.samples:
        ts = start_ms + scrape * SCRAPE_MS
        for index, pairs in enumerate(labels):
            series = request.timeseries.add()
            for name, value in pairs:
                series.labels.add(name=name, value=value)
            series.samples.add(value=float(scrape * 1000 + index), timestamp=ts)
            count += 1
            if len(request.timeseries) == args.samples_per_request or count == args.samples:
                bodies.append(bytes(cramjam.snappy.compress_raw(request.SerializeToString())))
                request = WriteRequest()
            if count == args.samples:
                break
        scrape += 1
    return bodies


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def send_all(base: str, key: str, bodies: list[bytes], concurrency: int) -> None:
    queue = list(reversed(bodies))
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:

        async def sender() -> None:
            while queue:
                body = queue.pop()
                while True:
                    response = await client.post("/prometheus/api/v1/write", content=body)
                    if response.status_code == 204:
                        break
                    if response.status_code not in (429, 503):
                        raise RuntimeError(f"{response.status_code}: {response.text}")
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))

        await asyncio.gather(*(sender() for _ in range(concurrency)))


def stored_samples(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(json_array_length(l.series)), 0) FROM metric_frames f"
            " JOIN metric_layouts l ON l.id = f.layout_id"
        ).fetchone()
    return int(row[0])


def prometheus_rate() -> str:
    if not MEASURED.is_file():
        return f"(not found: {MEASURED})"
    for line in MEASURED.read_text().splitlines():
        if "remote-write receive" in line:
            return re.sub(r"\s*\|\s*", " | ", line.strip(" |"))
    return "(no remote-write line in MEASURED.md)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--series", type=int, default=500, help="series per host")
    parser.add_argument("--samples-per-request", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    start_ms = (int(time.time() * 1000) - 3_600_000) // SCRAPE_MS * SCRAPE_MS
    bodies = requests(args, start_ms)
    print(
        f"{args.samples:,} samples: {args.hosts} hosts x {args.series} series, "
        f"{args.samples_per_request} samples a request ({len(bodies)} requests, "
        f"{sum(map(len, bodies)) / len(bodies) / 1024:.0f} KiB snappy each), "
        f"{args.concurrency} senders"
    )
    with tempfile.TemporaryDirectory(prefix="fleetscope-bench-rw-") as tmp:
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
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            key = dict(
                line.split("=", 1)
                for line in (data_dir / "initial-credentials").read_text().splitlines()
            )["agent_api_key"]
            proc = psutil.Process(server.pid)
            print(f"before: {load()}")
            cpu_before = sum(proc.cpu_times()[:2])
            started = time.perf_counter()
            asyncio.run(send_all(base, key, bodies, args.concurrency))
            received_s = time.perf_counter() - started
            cpu_received = sum(proc.cpu_times()[:2]) - cpu_before
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                depth = re.search(
                    r"^fleetscope_stream_depth (\S+)$", httpx.get(f"{base}/metrics").text, re.M
                )
                if depth is not None and float(depth.group(1)) == 0:
                    break
                time.sleep(0.1)
            stored_s = time.perf_counter() - started
            cpu_total = sum(proc.cpu_times()[:2]) - cpu_before
            stored = stored_samples(data_dir / "fleetscope.db")
            print(f"after: {load()}")
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()
    print(
        f"received (204)       {args.samples / received_s:>12,.0f} samples/s  ({received_s:.1f} s)"
    )
    print(f"stored end to end    {stored / stored_s:>12,.0f} samples/s  ({stored_s:.1f} s)")
    print(
        f"server CPU           {cpu_received / args.samples * 1e6:>12.1f} µs/sample to receive, "
        f"{cpu_total / args.samples * 1e6:.1f} µs/sample received and stored"
    )
    print(f"stored / sent        {stored:,} / {args.samples:,}")
    print(f"Prometheus (MEASURED.md): {prometheus_rate()}")
    if stored != args.samples:
        raise SystemExit(f"stored {stored} samples of {args.samples} sent")


if __name__ == "__main__":
    main()
