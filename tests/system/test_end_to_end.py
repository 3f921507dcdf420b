"""The real processes: `fleetscope up` end to end, and a server SIGKILLed after it said 2xx.

Each test starts its own process on a free port with a temp data dir, and stops only it, by PID.
Loops are bounded by deadlines."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import T0, free_port, payload, payload_json
from tests.processes import FLEETSCOPE, credentials, login, running, wait_ready
from tests.snapshots import SNAPSHOT_ROWS_SQL, snapshot_keys

pytestmark = pytest.mark.slow


def test_up_collects_this_host_and_serves_it_back(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with running(
        ["up", "--data-dir", str(data_dir), "--port", str(port), "--interval", "1"], data_dir
    ) as up:
        wait_ready(base, up)
        creds = credentials(data_dir)
        assert (data_dir / "initial-credentials").stat().st_mode & 0o777 == 0o600
        user = login(base, creds["admin_password"])
        started = time.time() - 5
        points: list[list[float]] = []
        deadline = time.monotonic() + 30
        while len(points) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
            hosts = httpx.get(f"{base}/api/v1/hosts", headers=user).json()
            if not hosts:
                continue
            report = httpx.get(
                f"{base}/api/v1/reports/metrics/{hosts[0]['name']}",
                params={
                    "start_time": str(started),
                    "metrics": "memory_total_bytes,cpu_utilization_percent",
                },
                headers=user,
            ).json()
            memory = [s for s in report["series"] if s["metric"] == "memory_total_bytes"]
            points = memory[0]["points"] if memory else []
        assert len(points) >= 3, "three 1 s cycles did not arrive within 30 s"
        assert all(value and value > 0 for _, value in points)
        assert [t for t, _ in points] == sorted(t for t, _ in points)
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=30) == 0
    log = (tmp_path / "up.log").read_text()
    assert "is up" in log and "digest drained" in log


def test_accepted_batch_survives_sigkill_before_digest(tmp_path: Path) -> None:
    """2xx means durable: kill -9 the server before digest runs, restart, stored exactly once."""
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"FLEETSCOPE_ADMIN_PASSWORD": "pw", "FLEETSCOPE_EMBEDDED_DIGEST": "false"}
    batch = payload(5, hostname="crash-host")
    with running(
        ["server", "--data-dir", str(data_dir), "--port", str(port)], data_dir, env
    ) as server:
        wait_ready(base, server)
        key = credentials(data_dir)["agent_api_key"]
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        response = httpx.post(f"{base}/api/v1/ingest", content=payload_json(batch), headers=headers)
        assert response.status_code == 202
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    with sqlite3.connect(data_dir / "stream.db") as stream:
        assert stream.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
    env["FLEETSCOPE_EMBEDDED_DIGEST"] = "true"
    with running(
        ["server", "--data-dir", str(data_dir), "--port", str(port)], data_dir, env
    ) as server:
        wait_ready(base, server)
        # The agent never saw the 2xx in this story, so it sends the same batch again.
        again = httpx.post(f"{base}/api/v1/ingest", content=payload_json(batch), headers=headers)
        assert again.status_code == 202
        user = login(base, "pw")
        deadline = time.monotonic() + 20
        points: list[list[float]] = []
        while time.monotonic() < deadline:
            report = httpx.get(
                f"{base}/api/v1/reports/metrics/crash-host",
                params={
                    "start_time": T0.isoformat(),
                    "end_time": str(T0.timestamp() + 60),
                    "metrics": "cpu_utilization_percent",
                },
                headers=user,
            )
            if report.status_code == 200 and report.json()["series"]:
                points = report.json()["series"][0]["points"]
                metrics = httpx.get(f"{base}/metrics").text
                if "fleetscope_stream_depth 0.0" in metrics and len(points) == 5:
                    break
            time.sleep(0.2)
        assert points == [[T0.timestamp() + 10 * i, 10.0 + i] for i in range(5)]
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    with sqlite3.connect(data_dir / "fleetscope.db") as store:
        assert len(snapshot_keys(store.execute(SNAPSHOT_ROWS_SQL))) == 5
        assert store.execute("SELECT count(*) FROM ingested_batches").fetchone()[0] == 1


def test_version_and_sample_config_round_trip(tmp_path: Path) -> None:
    version = subprocess.run([*FLEETSCOPE, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("fleetscope ")
    sample = subprocess.run(
        [*FLEETSCOPE, "config", "--sample"], capture_output=True, text=True, check=True
    )
    config = tmp_path / "fleetscope.toml"
    config.write_text(sample.stdout)
    collected = subprocess.run(
        [*FLEETSCOPE, "collect", "--once", "--config", str(config), "--collectors", "memory"],
        capture_output=True,
        text=True,
        check=True,
    )
    snapshot = json.loads(collected.stdout)
    assert snapshot["memory"]["total_bytes"] > 0 and "cpu" not in snapshot


def test_up_on_a_taken_port_fails_without_claiming_to_be_up(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_dir = tmp_path / "data"
        with running(["up", "--data-dir", str(data_dir), "--port", str(port)], data_dir) as up:
            assert up.wait(timeout=30) != 0
    log = (tmp_path / "up.log").read_text()
    assert "is up" not in log
    assert "address already in use" in log.lower()
