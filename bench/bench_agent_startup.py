"""Start-up of `fleetscope agent` on this machine: wall time from spawning the process to its
"agent writing to" log line (what the spool tests wait for before each SIGKILL), and the
time a fresh interpreter takes to import fleetscope.cli.main (every command pays it).

    .venv/bin/python bench/bench_agent_startup.py [--runs 15]

Prints the median and the worst of --runs each. The agent gets the cpu and memory collectors
and a server URL on a port where nothing listens, so it starts, collects into its spool and
retries; it is killed by its PID once it has said it is writing.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY = b"agent writing to"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def agent_start_seconds(work: Path) -> float:
    config = work / "agent.toml"
    config.write_text('[agent]\nhostname = "bench"\ncollectors = ["cpu", "memory"]\n')
    log_path = work / "agent.log"
    args = [sys.executable, "-m", "fleetscope.cli", "agent", "--config", str(config)]
    args += ["--data-dir", str(work / "data"), "--api-key", "k", "--interval", "0.05s"]
    args += ["--server", f"http://127.0.0.1:{free_port()}", "--log-level", "debug"]
    with open(log_path, "wb") as log:
        started = time.monotonic()
        agent = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            while READY not in log_path.read_bytes():
                if agent.poll() is not None:
                    raise SystemExit(f"the agent exited: {log_path.read_text()}")
                if time.monotonic() - started > 60:
                    raise SystemExit("the agent did not start within 60 s")
                time.sleep(0.005)
            return time.monotonic() - started
        finally:
            agent.kill()
            agent.wait(timeout=10)


def import_seconds() -> float:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import fleetscope.cli.main"],
        capture_output=True,
        text=True,
        check=True,
    )
    last = done.stderr.strip().splitlines()[-1]  # "import time: self | cumulative | name"
    return int(last.split("|")[1]) / 1e6


def show(name: str, seconds: list[float]) -> None:
    print(f"{name}: median {statistics.median(seconds):.3f} s, worst {max(seconds):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    show("import fleetscope.cli.main", [import_seconds() for _ in range(runs)])
    with tempfile.TemporaryDirectory() as tmp:
        show(
            "agent start to 'agent writing to'",
            [agent_start_seconds(Path(tmp)) for _ in range(runs)],
        )


if __name__ == "__main__":
    main()
