"""CPU time of one agent collection cycle on this machine, against Debian's node_exporter.

Prints median and p95 CPU per cycle for the default collectors without the process scan (and
each collector's median duration inside it), and with it (with the process count), then the
CPU node_exporter (default collectors) spends per scrape in the same run, paced the same way,
and our ratio to it.

    .venv/bin/python bench/bench_agent_cycle.py [--cycles 200] [--pace 0.25] [--scrapes 120]
        [--spawn N] [--without-tcp-states]

--spawn N starts N idle `sleep` children first (stopped by PID at the end), to time the
process scan at a higher process count than the machine has.

CPU is process time (all threads: collectors run in worker threads). node_exporter's CPU is
read from /proc/<pid>/stat (utime+stime, 10 ms ticks) across all scrapes and divided by their
number, so it needs enough scrapes to be precise. The garbage collector's passes during the
timed light cycles are counted too (gc.callbacks): a pass would land in some cycle's time.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import socket
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.collectors.network import NetworkSettings
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.registry import select_collectors
from fleetscope.agent.runner import CollectorRunner
from fleetscope.config.settings import SettingsStruct

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
TICKS = os.sysconf("SC_CLK_TCK")


def measure(
    names: list[str],
    cycles: int,
    pace: float,
    settings: Mapping[str, SettingsStruct] | None = None,
    *,
    per_collector: dict[str, list[float]] | None = None,
    gc_passes: list[int] | None = None,
) -> tuple[list[float], int]:
    context = CollectorContext(ProcFS("/proc"), SysFS("/sys"), Path("/"), settings=settings or {})
    runner = CollectorRunner(select_collectors(names), context)
    for _ in range(5):  # warm-up: first cycles import and cache
        runner.collect()
    costs = []
    processes = 0
    passes = [0]

    def count_pass(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes[0] += 1

    gc.callbacks.append(count_pass)
    for _ in range(cycles):
        started = time.process_time()
        snapshot = runner.collect()
        costs.append(time.process_time() - started)
        assert all(s.success for s in snapshot.collectors), snapshot.collectors
        if per_collector is not None:
            for status in snapshot.collectors:
                per_collector.setdefault(status.name, []).append(status.duration_seconds)
        if snapshot.processes is not None:
            processes = snapshot.processes.count
        time.sleep(pace)
    gc.callbacks.remove(count_pass)
    runner.close()
    if gc_passes is not None:
        gc_passes.append(passes[0])
    return costs, processes


def summary(costs: list[float]) -> str:
    ordered = sorted(costs)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def node_exporter_cpu_per_scrape(scrapes: int, pace: float) -> float | None:
    if not shutil.which(NODE_EXPORTER):
        print(f"node_exporter: {NODE_EXPORTER} missing (apt-get install prometheus-node-exporter)")
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        for _ in range(5):
            urllib.request.urlopen(url, timeout=5).read()
        before = _cpu_seconds(process.pid)
        samples = 0
        for _ in range(scrapes):
            body = urllib.request.urlopen(url, timeout=5).read()
            samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
            time.sleep(pace)
        spent = _cpu_seconds(process.pid) - before
    finally:
        process.terminate()
        process.wait(timeout=10)
    per_scrape = spent / scrapes
    print(
        f"node_exporter (default collectors, {samples} samples): "
        f"{per_scrape * 1000:.2f} ms CPU per scrape (mean of {scrapes}, paced {pace:g} s)"
    )
    return per_scrape


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between cycles/scrapes")
    parser.add_argument("--scrapes", type=int, default=120)
    parser.add_argument("--spawn", type=int, default=0, help="idle child processes to add")
    parser.add_argument(
        "--without-tcp-states",
        action="store_true",
        help="also time the cycle without processes with the network collector's tcp_states "
        "off (no netlink dump; node_exporter's tcpstat collector is off by default too)",
    )
    args = parser.parse_args()
    children = [
        subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL) for _ in range(args.spawn)
    ]
    try:
        run(args)
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


def run(args: argparse.Namespace) -> None:
    defaults = [spec.name for spec in select_collectors(None)]
    light = [name for name in defaults if name != "processes"]
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; pace {args.pace:g} s")
    durations: dict[str, list[float]] = {}
    passes: list[int] = []
    costs, _ = measure(light, args.cycles, args.pace, per_collector=durations, gc_passes=passes)
    print(
        f"fleetscope cycle without processes ({', '.join(light)}): {summary(costs)}; "
        f"garbage collector passes during its {args.cycles} cycles: {passes[0]}"
    )
    print(
        "  per collector, median wall time inside that cycle (inline ones: about their CPU): "
        + ", ".join(f"{n} {statistics.median(d) * 1000:.2f} ms" for n, d in durations.items())
    )
    if args.without_tcp_states:
        settings = {"network": NetworkSettings(tcp_states=False)}
        no_tcp, _ = measure(light, args.cycles, args.pace, settings)
        print(f"fleetscope cycle without processes, tcp_states off: {summary(no_tcp)}")
    with_procs, count = measure(defaults, args.cycles, args.pace)
    print(f"fleetscope cycle with processes ({count} processes): {summary(with_procs)}")
    reference = node_exporter_cpu_per_scrape(args.scrapes, args.pace)
    if reference:
        ours = statistics.median(costs)
        print(
            f"ratio fleetscope/node_exporter: {ours / reference:.2f} without processes, "
            f"{statistics.median(with_procs) / reference:.2f} with processes"
        )
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
