"""A real embedded `fleetscope server` process for the door benchmarks (bench_remote_write.py,
bench_aggregator.py): SQLite stream and store in a temp dir, digest in the process, on
127.0.0.1; concurrent senders that retry what the server asks them to (429, 503); the store
counted after the stream is empty; Prometheus' own figure from ../shared/MEASURED.md."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fleetscope.store.chunks import chunk_times

REPO = Path(__file__).resolve().parent.parent
MEASURED = REPO.parent / "shared" / "MEASURED.md"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of the process, all its threads (proc(5), fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prometheus_rate() -> str:
    if not MEASURED.is_file():
        return f"(not found: {MEASURED})"
    for line in MEASURED.read_text().splitlines():
        if "remote-write receive" in line:
            return re.sub(r"\s*\|\s*", " | ", line.strip(" |"))
    return "(no remote-write line in MEASURED.md)"


@dataclass(frozen=True, slots=True)
class Measured:
    counted: int  # what the senders counted from the answers
    sent_s: float  # first request to last answer
    stored_s: float  # first request to the stream empty
    cpu_sent: float  # the server's CPU seconds while sending
    cpu_total: float  # ... until the stream was empty
    stored: int  # samples in the store afterwards


@dataclass(frozen=True, slots=True)
class RunningServer:
    base: str
    pid: int
    agent_key: str
    database: Path

    def measure(self, send: Callable[[], Coroutine[Any, Any, int]]) -> Measured:
        """Run the senders, then wait until all is digested, timing both and the server's
        CPU, and count what the store holds. Prints the load before and after."""
        print(f"before: {load()}")
        cpu_before = process_cpu_seconds(self.pid)
        started = time.perf_counter()
        counted = asyncio.run(send())
        sent_s = time.perf_counter() - started
        cpu_sent = process_cpu_seconds(self.pid) - cpu_before
        self.wait_digested()
        stored_s = time.perf_counter() - started
        cpu_total = process_cpu_seconds(self.pid) - cpu_before
        print(f"after: {load()}")
        return Measured(counted, sent_s, stored_s, cpu_sent, cpu_total, self.stored_samples())

    def wait_digested(self, timeout_s: float = 1800) -> None:
        """Until the stream is empty (fleetscope_stream_depth on /metrics)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            depth = re.search(
                r"^fleetscope_stream_depth (\S+)$", httpx.get(f"{self.base}/metrics").text, re.M
            )
            if depth is not None and float(depth.group(1)) == 0:
                return
            time.sleep(0.1)
        raise SystemExit(f"the stream was not empty after {timeout_s:.0f} s")

    def stored_samples(self) -> int:
        """Values stored: for every row, its snapshots (a chunk row holds several) times the
        series of its layout. A snapshot stored twice counts twice."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as conn:
            widths = dict(conn.execute("SELECT id, json_array_length(series) FROM metric_layouts"))
            total = 0
            for ts_ms, layout_id, blob in conn.execute(
                "SELECT ts_ms, layout_id, vals FROM metric_frames"
            ):
                total += len(chunk_times(int(ts_ms), bytes(blob))[0]) * int(widths[layout_id])
        return total


def _wait_ready(base: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not become ready in {timeout_s:.0f} s")


@contextmanager
def embedded_server(prefix: str) -> Iterator[RunningServer]:
    """`fleetscope server` in a temp dir, ready, with the agent key it created; stopped (and
    the dir removed) on leaving."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "FLEETSCOPE_ADMIN_PASSWORD": "bench"}
        with open(Path(tmp) / "server.log", "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "fleetscope.cli", "server", "--data-dir", str(data_dir),
                 "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
            try:
                _wait_ready(base)
                credentials = (data_dir / "initial-credentials").read_text().splitlines()
                key = dict(line.split("=", 1) for line in credentials)["agent_api_key"]
                yield RunningServer(base, server.pid, key, data_dir / "fleetscope.db")
            finally:
                server.terminate()
                server.wait(timeout=60)


async def send_all(
    base: str,
    requests: list[tuple[str, bytes]],
    headers: dict[str, str],
    concurrency: int,
    *,
    ok: int,
    counted: Callable[[httpx.Response], int] = lambda _: 0,
) -> int:
    """Post every (path with its query, body) from `concurrency` senders; a 429 or 503 is
    retried after its Retry-After, any other answer but `ok` stops the run. The sum of
    `counted` over the answers (e.g. the samples the server said it accepted)."""
    queue = list(reversed(requests))
    total = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:

        async def sender() -> None:
            nonlocal total
            while queue:
                path, body = queue.pop()
                while True:
                    response = await client.post(path, content=body)
                    if response.status_code == ok:
                        total += counted(response)
                        break
                    if response.status_code not in (429, 503):
                        raise RuntimeError(f"{response.status_code}: {response.text}")
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return total
