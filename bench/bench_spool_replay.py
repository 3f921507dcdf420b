"""Replay a 24 h backlog (8,640 snapshots at a 10 s interval) from the spool into the embedded
server, with the real uploader (stdlib http.client, zstd) and the agent's own loop.

The spool is filled with one real snapshot of this host, re-stamped every 10 s across the last
24 h. The server is a real `fleetscope server` process (SQLite stream and store) on a free port
with a temp data dir. Prints the seconds until the spool is empty (every batch acknowledged
with a 2xx), snapshots/s, the batch size, and the seconds until digest has stored them all.

    .venv/bin/python bench/bench_spool_replay.py [--snapshots 8640] [--batch-size 100]
                                                 [--no-digest]

--no-digest runs the server without its embedded digest, so ingest alone answers the uploads
(the digest otherwise shares the server process, and its CPU, with ingest).
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from msgspec.structs import replace

from fleetscope.agent.http import StdlibTransport
from fleetscope.agent.service import AgentService
from fleetscope.agent.spool import SpoolLimits, SQLiteSpool
from fleetscope.agent.uploader import Uploader
from fleetscope.model.codec import encode
from fleetscope.model.payload import HostIdentity
from spool_common import real_snapshot

INTERVAL = timedelta(seconds=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {base} not ready after {timeout} s")


def fill(path: Path, snapshots: int) -> int:
    snapshot = real_snapshot()
    start = datetime.now(UTC) - snapshots * INTERVAL
    # Filled with synchronous=NORMAL: the fill is not what is measured.
    spool = SQLiteSpool(path, SpoolLimits(10**11, 10**9), synchronous="NORMAL")
    size = 0
    for i in range(snapshots):
        at = start + i * INTERVAL
        body = encode(replace(snapshot, timestamp=at))
        spool.append(at.timestamp(), body)
        size += len(body)
    spool.close()
    return size


def frames(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "fleetscope.db") as store:
        count: int = store.execute("SELECT count(*) FROM metric_frames").fetchone()[0]
        return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snapshots", type=int, default=8640)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-bytes", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--no-digest", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spool_path, data_dir = Path(tmp) / "spool.db", Path(tmp) / "server"
        json_bytes = fill(spool_path, args.snapshots)
        print(
            f"spool: {args.snapshots} snapshots, {json_bytes / 2**20:.0f} MiB of JSON, "
            f"{spool_path.stat().st_size / 2**20:.0f} MiB on disk"
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "FLEETSCOPE_ADMIN_PASSWORD": "bench"}
        if args.no_digest:
            env["FLEETSCOPE_EMBEDDED_DIGEST"] = "false"
        command = [sys.executable, "-m", "fleetscope.cli", "server", "--data-dir", str(data_dir)]
        command += ["--port", str(port), "--log-level", "warning"]
        server = subprocess.Popen(command, env=env)
        try:
            wait_ready(base)
            lines = (data_dir / "initial-credentials").read_text().splitlines()
            key = dict(line.split("=", 1) for line in lines)["agent_api_key"]
            spool = SQLiteSpool(spool_path, SpoolLimits(10**11, 10**9))  # FULL, as the agent
            uploader = Uploader(StdlibTransport(timeout_seconds=60), base, key)
            service = AgentService(
                None,  # type: ignore[arg-type]  (no collection: replay only)
                HostIdentity(machine_id="bench-replay", hostname="bench-replay"),
                uploader,
                spool,
                interval_seconds=10,
                batch_size=args.batch_size,
                batch_bytes=args.batch_bytes,
            )
            started = time.perf_counter()
            while spool.status().depth:
                service.upload_pending()
                if spool.status().depth:  # a retry was scheduled (503, 429): wait for it
                    time.sleep(0.05)
            uploaded = time.perf_counter() - started
            while (
                not args.no_digest
                and frames(data_dir) < args.snapshots
                and time.perf_counter() - started < 600
            ):
                time.sleep(0.1)
            stored = time.perf_counter() - started
            sent = service.status.snapshots_delivered
            print(
                f"batch size: {args.batch_size} snapshots (at most "
                f"{args.batch_bytes / 2**20:.0f} MiB of JSON), zstd level 3"
            )
            print(
                f"replayed {sent} snapshots in {uploaded:.1f} s: {sent / uploaded:.0f} "
                f"snapshots/s acknowledged (2xx)"
            )
            if not args.no_digest:
                print(
                    f"stored {frames(data_dir)} frames after {stored:.1f} s: "
                    f"{frames(data_dir) / stored:.0f} snapshots/s through digest"
                )
            uploader.close()
            spool.close()
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
