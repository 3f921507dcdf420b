"""The ways agent/linux reads /proc, each timed against the plain alternative it replaced.

    .venv/bin/python bench/bench_proc_reads.py [--calls 5000] [--fds 250] [--spawn 0]
        [--scans 50] [--interval 10]

Prints, per pair, the median wall time per call over --calls (best of five rounds' medians):

- a small /proc file (loadavg) read with os.open/os.read (fileio.read_file) and with open();
- /proc/net/dev read again through a kept descriptor (KeptFiles, pread at offset 0) and
  opened, read and closed each time;
- /proc/<pid>/stat opened by an f-string path and by `root / str(pid) / name`;
- the open fds of a process with --fds open files: the st_size of /proc/<pid>/fd and a listing;

then the CPU time of one process scan (PidScanner through ProcFS.processes), all of it and
the kernel's part (getrusage), with the per-process files kept open between scans and with
none kept (max_kept_files=0), each scan as the processes collector runs it, the mean of
three alternated rounds of --scans scans, and what share of the processes'
stat, status and io files were byte-identical in two reads --interval seconds apart (what
the scan's reuse of parsed records rests on). --spawn starts that many idle `sleep`
children first, stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from fleetscope.agent.linux.fileio import decode, read_file
from fleetscope.agent.linux.kept_files import KeptFiles
from fleetscope.agent.linux.pidscan import ProcessStatic
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.processes.users import UsernameCache


def per_call_us(call: Callable[[], object], calls: int) -> float:
    """Best of five rounds of the median wall time of one call, in microseconds."""
    rounds = []
    for _ in range(5):
        samples = []
        for _ in range(calls):
            start = time.perf_counter_ns()
            call()
            samples.append(time.perf_counter_ns() - start)
        rounds.append(statistics.median(samples))
    return min(rounds) / 1e3


def pair(label: str, ours: Callable[[], object], other: Callable[[], object], calls: int) -> None:
    ours(), other()
    print(f"{label}: {per_call_us(ours, calls):.1f} us against {per_call_us(other, calls):.1f} us")


def open_read_builtin(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def open_close(path: str | Path) -> None:
    os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))


def scan_cpu_ms(max_kept_files: int | None, scans: int) -> tuple[float, float, int]:
    """(CPU, system CPU) per scan in ms, the mean over `scans`, and the process count. Each
    scan as the processes collector runs it: usernames cached, and cmdline, exe and fd limit
    read once per process (`known`)."""
    procfs = ProcFS("/proc", max_kept_files=max_kept_files)
    users = UsernameCache()
    known: dict[int, ProcessStatic] = {}
    try:
        procfs.processes(username_of=users, known=known)  # opens (and keeps) the files
        count = 0
        cpu, system = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
        for _ in range(scans):
            count = len(procfs.processes(username_of=users, known=known))
        cpu = time.process_time() - cpu
        system = resource.getrusage(resource.RUSAGE_SELF).ru_stime - system
        return cpu / scans * 1e3, system / scans * 1e3, count
    finally:
        procfs.close()


def snapshot(pids: list[int]) -> dict[tuple[int, str], bytes]:
    files: dict[tuple[int, str], bytes] = {}
    for pid in pids:
        for name in ("stat", "status", "io"):
            try:
                files[(pid, name)] = read_file(f"/proc/{pid}/{name}")
            except OSError:
                continue
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--fds", type=int, default=250)
    parser.add_argument("--spawn", type=int, default=0, help="idle child processes to add")
    parser.add_argument("--scans", type=int, default=50)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between reads")
    args = parser.parse_args()
    children = [
        subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL) for _ in range(args.spawn)
    ]
    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(args.fds)]
    try:
        pair(
            "small /proc file, os.open/os.read vs open()",
            lambda: decode(read_file("/proc/loadavg")),
            lambda: open_read_builtin("/proc/loadavg"),
            args.calls,
        )
        kept = KeptFiles()
        try:
            pair(
                "/proc/net/dev read and decoded, kept (pread) vs opened each time",
                lambda: decode(kept.read("/proc/net/dev")),
                lambda: decode(read_file("/proc/net/dev")),
                args.calls,
            )
        finally:
            kept.close()
        pid, root = os.getpid(), Path("/proc")
        pair(
            "open+close /proc/<pid>/stat, f-string path vs pathlib join",
            lambda: open_close(f"{root}/{pid}/stat"),
            lambda: open_close(root / str(pid) / "stat"),
            args.calls,
        )
        fd_dir = f"/proc/{pid}/fd"
        pair(
            f"open fds of a process with {len(os.listdir(fd_dir))}, st_size vs listing",
            lambda: os.stat(fd_dir).st_size,
            lambda: len(os.listdir(fd_dir)),
            max(1, args.calls // 10),
        )
        runs: dict[int | None, list[tuple[float, float, int]]] = {0: [], None: []}
        for _ in range(3):  # alternated, so that neither side has the warmer machine
            for budget, results in runs.items():
                results.append(scan_cpu_ms(budget, args.scans))
        (kept_cpu, kept_system), (fresh_cpu, fresh_system) = (
            (statistics.mean(r[0] for r in runs[b]), statistics.mean(r[1] for r in runs[b]))
            for b in (None, 0)
        )
        print(
            f"process scan ({runs[None][-1][2]} processes, mean of 3 x {args.scans}), "
            f"files kept open vs none: CPU {kept_cpu:.1f} against {fresh_cpu:.1f} ms, "
            f"of it system {kept_system:.1f} against {fresh_system:.1f} ms"
        )
        pids = ProcFS("/proc").pids()
        first = snapshot(pids)
        time.sleep(args.interval)
        second = snapshot(pids)
        for name in ("stat", "status", "io"):
            both = [key for key in first if key[1] == name and key in second]
            same = sum(first[key] == second[key] for key in both)
            print(
                f"/proc/<pid>/{name} byte-identical {args.interval:g} s apart: "
                f"{same} of {len(both)} ({same / max(1, len(both)):.0%})"
            )
    finally:
        for fd in held:
            os.close(fd)
        for child in children:
            child.terminate()
        for child in children:
            child.wait()


if __name__ == "__main__":
    main()
