"""Read and parse this host's /proc files the agent samples every interval, N times, and print
the median and p95 CPU time (and wall time) of one full read+parse cycle.

    .venv/bin/python bench/bench_linux_parsers.py [--cycles 2000] [--procfs /proc]

Files missing on this host (PSI before 4.20 or psi=0) are reported and left out of the cycle.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from fleetscope.agent.linux.proc import ProcFS


def _steps(procfs: ProcFS) -> dict[str, Callable[[], object]]:
    return {
        "stat": procfs.stat,
        "meminfo": procfs.meminfo,
        "loadavg": procfs.loadavg,
        "diskstats": procfs.diskstats,
        "net/dev": procfs.net_dev,
        "vmstat": procfs.vmstat,
        "pressure/cpu": lambda: procfs.pressure("cpu"),
        "pressure/memory": lambda: procfs.pressure("memory"),
        "pressure/io": lambda: procfs.pressure("io"),
        "sys/fs/file-nr": procfs.file_nr,
        "net/sockstat": procfs.sockstat,
        "net/sockstat6": procfs.sockstat6,
        "net/snmp": procfs.snmp,
    }


def _percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--procfs", default="/proc")
    args = parser.parse_args()

    steps = _steps(ProcFS(args.procfs))
    for name, step in list(steps.items()):
        try:
            step()
        except OSError as exc:
            print(f"skipping {name}: {exc}")
            del steps[name]
    calls = list(steps.values())
    for _ in range(50):  # warm the page cache and the interpreter's caches
        for call in calls:
            call()

    cpu_ns: list[int] = []
    wall_ns: list[int] = []
    per_file: dict[str, list[int]] = {name: [] for name in steps}
    for _ in range(args.cycles):
        cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
        for call in calls:
            call()
        cpu_ns.append(time.process_time_ns() - cpu0)
        wall_ns.append(time.perf_counter_ns() - wall0)
    for name, step in steps.items():  # per-file wall time, measured apart from the cycles
        for _ in range(max(1, args.cycles // 4)):
            start = time.perf_counter_ns()
            step()
            per_file[name].append(time.perf_counter_ns() - start)

    print(f"{len(steps)} files per cycle, {args.cycles} cycles, procfs={args.procfs}")
    print(
        f"cycle CPU  time: median {statistics.median(cpu_ns) / 1e3:8.1f} us"
        f"  p95 {_percentile(cpu_ns, 0.95) / 1e3:8.1f} us"
    )
    print(
        f"cycle wall time: median {statistics.median(wall_ns) / 1e3:8.1f} us"
        f"  p95 {_percentile(wall_ns, 0.95) / 1e3:8.1f} us"
    )
    print("per file wall time (median us):")
    for name, samples in per_file.items():
        print(f"  {name:16s} {statistics.median(samples) / 1e3:7.1f}")


if __name__ == "__main__":
    main()
