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
import time

import cramjam

from embedded_server import embedded_server, prometheus_rate, send_all
from fleetscope.ingest.prompb.remote_pb2 import WriteRequest

SCRAPE_MS = 15_000
# node_exporter-like families: (name, label, values of the label)
FAMILIES = (
    ("node_cpu_seconds_total", "mode", ("idle", "user", "system", "iowait", "irq", "steal")),
    ("node_network_receive_bytes_total", "device", ("eth0", "eth1", "lo")),
    ("node_disk_read_bytes_total", "device", ("sda", "sdb", "nvme0n1")),
    ("node_filesystem_avail_bytes", "mountpoint", ("/", "/var", "/home", "/boot")),
)


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


HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


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
    with embedded_server("fleetscope-bench-rw-") as server:
        headers = {"Authorization": f"Bearer {server.agent_key}", **HEADERS}
        posts = [("/prometheus/api/v1/write", body) for body in bodies]
        run = server.measure(
            lambda: send_all(server.base, posts, headers, args.concurrency, ok=204)
        )
    stored = run.stored
    print(
        f"received (204)       {args.samples / run.sent_s:>12,.0f} samples/s  ({run.sent_s:.1f} s)"
    )
    print(f"stored end to end    {stored / run.stored_s:>12,.0f} samples/s  ({run.stored_s:.1f} s)")
    print(
        f"server CPU           {run.cpu_sent / args.samples * 1e6:>12.1f} µs/sample to receive, "
        f"{run.cpu_total / args.samples * 1e6:.1f} µs/sample received and stored"
    )
    print(f"stored / sent        {stored:,} / {args.samples:,}")
    print(f"Prometheus (MEASURED.md): {prometheus_rate()}")
    if stored != args.samples:
        raise SystemExit(f"stored {stored} samples of {args.samples} sent")


if __name__ == "__main__":
    main()
