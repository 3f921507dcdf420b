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
import json
import time

from embedded_server import embedded_server, prometheus_rate, send_all

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
    with embedded_server("fleetscope-bench-agg-") as server:
        headers = {
            "Authorization": f"Bearer {server.agent_key}",
            "Content-Type": "application/json",
        }
        posts = [(PATH, body) for body in bodies]
        run = server.measure(
            lambda: send_all(server.base, posts, headers, args.concurrency, ok=202,
                             counted=lambda response: int(response.json()["samples"]))
        )  # fmt: skip
    accepted, stored = run.counted, run.stored
    print(f"accepted (202)       {accepted / run.sent_s:>12,.0f} samples/s  ({run.sent_s:.1f} s)")
    print(f"stored end to end    {stored / run.stored_s:>12,.0f} samples/s  ({run.stored_s:.1f} s)")
    print(
        f"fleetscope CPU       {run.cpu_sent / args.samples * 1e6:>12.1f} µs/sample to accept, "
        f"{run.cpu_total / args.samples * 1e6:.1f} µs/sample accepted and stored"
    )
    print(f"stored / accepted / sent  {stored:,} / {accepted:,} / {args.samples:,}")
    print(f"Prometheus (MEASURED.md): {prometheus_rate()}")
    if stored != args.samples or accepted != args.samples:
        raise SystemExit(f"stored {stored}, accepted {accepted} of {args.samples} sent")


if __name__ == "__main__":
    main()
