"""CPU cost of one full process scan + grouping, and of a Debian process-exporter scrape.

    .venv/bin/python bench/bench_processes.py [--runs 50] [--spawn 0]

Ours: time.process_time() around ProcFS.processes() + GroupTracker.update() (what the agent
does per interval), median and p95 over --runs. process-exporter, when installed: started
on a free loopback port with the same rules (comm.yaml: name {{.Comm}}, cmdline .+), one
warm-up scrape, then --runs scrapes; its CPU is the utime+stime delta of its
/proc/<pid>/stat across all scrapes, divided by the count (stat ticks are 10 ms, so
per-scrape values would be quantized; the total is not). It runs twice: with its default
flags (it also reads every thread and smaps_rollup), and with -threads=false
-gather-smaps=false, which reads what we read. Its figure includes serving and encoding
the HTTP response; ours has no exporter format to produce. --spawn starts that many extra
idle processes (sleep) first, for a larger table; they are stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from fleetscope.agent.linux.parsers.proc_pid import parse_pid_stat
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.processes.groups import ProcessGrouper
from fleetscope.agent.processes.settings import ProcessGroupsSettings
from fleetscope.agent.processes.tracker import GroupTracker
from fleetscope.agent.processes.users import UsernameCache
from fleetscope.config.settings import settings_from

EXPORTER = "prometheus-process-exporter"
RULES = {"process_names": [{"name": "{{.Comm}}", "cmdline": [".+"]}]}
COMM_YAML = "process_names:\n  - name: \"{{.Comm}}\"\n    cmdline:\n    - '.+'\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_ours(runs: int, procfs: ProcFS) -> tuple[list[float], int, int]:
    tracker = GroupTracker(ProcessGrouper(settings_from(ProcessGroupsSettings, RULES)))
    usernames = UsernameCache()
    times: list[float] = []
    procs = groups = 0
    for _ in range(runs + 1):  # the first run warms caches (imports, usernames) and is dropped
        start = time.process_time()
        samples = procfs.processes(username_of=usernames)
        result = tracker.update(samples, now=time.time())
        times.append(time.process_time() - start)
        procs, groups = len(samples), len(result)
    return times[1:], procs, groups


def cpu_seconds(pid: int) -> float:
    stat = parse_pid_stat(Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_PAGE_SIZE"))
    return stat.cpu_user_seconds_total + stat.cpu_system_seconds_total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bench_exporter(binary: str, runs: int, config: Path, flags: list[str]) -> float:
    address = f"127.0.0.1:{free_port()}"
    url = f"http://{address}/metrics"
    proc = subprocess.Popen(
        [binary, f"-web.listen-address={address}", f"-config.path={config}", *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(timeout=30) as client:
            deadline = time.monotonic() + 15
            while True:
                try:
                    client.get(url).raise_for_status()  # also the warm-up scrape
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"{EXPORTER} did not start on {address}") from None
                    time.sleep(0.1)
            before = cpu_seconds(proc.pid)
            for _ in range(runs):
                client.get(url).raise_for_status()
            return (cpu_seconds(proc.pid) - before) / runs
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--spawn", type=int, default=0, help="extra idle processes to start")
    args = parser.parse_args()

    spawned = [subprocess.Popen(["sleep", "3600"]) for _ in range(args.spawn)]
    try:
        ours, procs, groups = bench_ours(args.runs, ProcFS("/proc"))
        median, p95, mean = statistics.median(ours), percentile(ours, 0.95), statistics.mean(ours)
        print(f"processes: {procs}  groups: {groups}  runs: {args.runs}")
        print(
            f"fleetscope scan+group CPU: median {median * 1e3:.2f} ms  "
            f"p95 {p95 * 1e3:.2f} ms  mean {mean * 1e3:.2f} ms"
        )
        binary = shutil.which(EXPORTER)
        if binary is None:
            print(f"{EXPORTER} not installed: no comparison")
            return
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "comm.yaml"
            config.write_text(COMM_YAML)
            for label, flags in (
                ("default flags", []),
                ("-threads=false -gather-smaps=false", ["-threads=false", "-gather-smaps=false"]),
            ):
                theirs = bench_exporter(binary, args.runs, config, flags)
                print(
                    f"{EXPORTER} scrape CPU ({label}): mean {theirs * 1e3:.2f} ms  "
                    f"ratio ours/theirs (mean) {mean / theirs:.2f}"
                )
    finally:
        for proc in spawned:
            proc.terminate()
        for proc in spawned:
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
