"""Resident memory of a real `fleetscope agent` over time, streaming at a 1 s interval to a
real `fleetscope server` on 127.0.0.1. Target: <= 40 MB after an hour, and flat.

    .venv/bin/python bench/soak_agent.py            # one hour (the target's definition)
    .venv/bin/python bench/soak_agent.py --short    # two minutes, for a quick look

Prints RSS samples, then: RSS after warm-up, at the end, the maximum, and the growth rate
over the second half by least squares (MB per hour). Stops only the processes it started.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

FLEETSCOPE = [sys.executable, "-m", "fleetscope.cli"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, deadline_seconds: float = 60) -> None:
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 (loopback, our own child)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float:
    xs = [t for t, _ in points]
    ys = [r for _, r in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in points) / var * 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="2 minutes instead of an hour")
    parser.add_argument("--seconds", type=float, help="soak length (overrides --short)")
    args = parser.parse_args()
    duration = args.seconds or (120.0 if args.short else 3600.0)
    every = 5.0 if duration <= 600 else 60.0
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        port = free_port()
        env = {**os.environ, "FLEETSCOPE_ADMIN_PASSWORD": "soak"}
        server = subprocess.Popen(
            [*FLEETSCOPE, "server", "--data-dir", str(data / "server"), "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        agent = None
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz")
            key = dict(
                line.split("=", 1)
                for line in (data / "server" / "initial-credentials").read_text().splitlines()
            )["agent_api_key"]
            agent = subprocess.Popen(
                [
                    *FLEETSCOPE,
                    *("agent", "--server", f"http://127.0.0.1:{port}", "--api-key", key),
                    *(
                        "--interval",
                        "1",
                        "--data-dir",
                        str(data / "agent"),
                        "--log-level",
                        "warning",
                    ),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started = time.monotonic()
            points: list[tuple[float, float]] = []
            while (elapsed := time.monotonic() - started) < duration:
                if agent.poll() is not None:
                    raise RuntimeError(f"agent exited with {agent.returncode}")
                points.append((elapsed, rss_mb(agent.pid)))
                print(f"t={elapsed:7.0f} s  rss={points[-1][1]:6.1f} MB", flush=True)
                time.sleep(every)
        finally:
            for process in (agent, server):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait(timeout=30)
    warm = [p for p in points if p[0] >= min(60.0, duration / 4)]
    second_half = [p for p in points if p[0] >= duration / 2]
    print(
        f"agent RSS: after warm-up {warm[0][1]:.1f} MB, at end {points[-1][1]:.1f} MB, "
        f"max {max(r for _, r in points):.1f} MB; growth over the second half "
        f"{slope_mb_per_hour(second_half):+.2f} MB/h ({len(points)} samples over {duration:.0f} s)"
    )


if __name__ == "__main__":
    main()
