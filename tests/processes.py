"""Real fleetscope processes for end-to-end tests: started on free ports with temp data dirs,
stopped only by their own PIDs; loops bounded by deadlines."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

FLEETSCOPE = [sys.executable, "-m", "fleetscope.cli"]


@contextmanager
def running(
    args: list[str],
    data_dir: Path,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """The process's output goes to log_path (appended), by default <data_dir>/../<command>.log."""
    log_path = log_path or data_dir.parent / f"{args[0]}.log"
    log = open(log_path, "ab")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [*FLEETSCOPE, *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        log.close()


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited during start-up"
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} not ready after {timeout} s")


def credentials(data_dir: Path) -> dict[str, str]:
    lines = (data_dir / "initial-credentials").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def login(base: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": "admin", "password": password}
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}
