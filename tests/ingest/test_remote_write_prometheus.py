"""Debian's real `prometheus` as the remote_write client: it scrapes Debian's node_exporter
every second and remote-writes to a real `fleetscope server`. For a closed window, every
sample Prometheus holds (read back from its own HTTP API) is stored in fleetscope exactly
once, with the same timestamp and value, and Prometheus counts no failed or dropped sample.
Real processes on free ports of 127.0.0.1, each stopped by its own PID, loops bounded."""

from __future__ import annotations

import math
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import require
from tests.helpers import free_port
from tests.processes import credentials, login, running, wait_ready

pytestmark = pytest.mark.slow

PROMETHEUS = "/usr/bin/prometheus"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float | None]]]


@contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within 30 s: {log.read_text()[-3000:]}")


def wait_scraping(base: str) -> None:
    """Until Prometheus has scraped once: its discovery hands targets over only after a
    few seconds."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = httpx.get(f"{base}/api/v1/query", params={"query": "up"}, timeout=5)
        if response.status_code == 200 and response.json()["data"]["result"]:
            return
        time.sleep(0.2)
    raise AssertionError("Prometheus did not scrape within 30 s")


def prometheus_config(exporter_port: int, fleetscope_port: int, key: str) -> str:
    return f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{exporter_port}"]
remote_write:
  - url: http://127.0.0.1:{fleetscope_port}/prometheus/api/v1/write
    authorization:
      credentials: {key}
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 200
    metadata_config:
      send_interval: 1s
"""


def prometheus_samples(base: str, start: float, end: float) -> Samples:
    """Every raw sample Prometheus holds in (start, end], by series."""
    response = httpx.get(
        f"{base}/api/v1/query",
        params={"query": f'{{job="node"}}[{round(end - start)}s]', "time": str(end)},
        timeout=10,
    )
    response.raise_for_status()
    out: Samples = {}
    for result in response.json()["data"]["result"]:
        labels = dict(result["metric"])
        name = labels.pop("__name__")
        key = (name, tuple(sorted(labels.items())))
        points = [(float(t), float(v)) for t, v in result["values"]]
        out[key] = [(t, None if math.isnan(v) else v) for t, v in points if start < t <= end]
    return {k: v for k, v in out.items() if v}


def fleetscope_samples(base: str, user: dict[str, str], start: float, end: float) -> Samples:
    response = httpx.get(
        f"{base}/api/v1/reports/metrics/127.0.0.1",
        params={"start_time": str(start), "end_time": str(end)},
        headers=user,
        timeout=30,
    )
    if response.status_code == 404:  # the host is not there yet
        return {}
    response.raise_for_status()
    out: Samples = {}
    for series in response.json()["series"]:
        key = (series["metric"], tuple(sorted(series["labels"].items())))
        points = [(float(t), v) for t, v in series["points"] if start < t <= end]
        if points:
            out[key] = points
    return out


def remote_storage_counter(base: str, name: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def test_every_sample_prometheus_sent_is_stored_once(tmp_path: Path) -> None:
    require(
        shutil.which(PROMETHEUS) is not None and os.access(NODE_EXPORTER, os.X_OK),
        "Debian's prometheus and prometheus-node-exporter are needed (scripts/system-deps)",
    )
    data_dir = tmp_path / "data"
    fs_port, exporter_port, prom_port = free_port(), free_port(), free_port()
    fs_base, prom_base = f"http://127.0.0.1:{fs_port}", f"http://127.0.0.1:{prom_port}"
    env = {"FLEETSCOPE_ADMIN_PASSWORD": "pw"}
    exporter_log, prom_log = tmp_path / "node_exporter.log", tmp_path / "prometheus.log"
    with running(
        ["server", "--data-dir", str(data_dir), "--port", str(fs_port)], data_dir, env
    ) as server:
        wait_ready(fs_base, server)
        key = credentials(data_dir)["agent_api_key"]
        config = tmp_path / "prometheus.yml"
        config.write_text(prometheus_config(exporter_port, fs_port, key))
        exporter_args = [
            NODE_EXPORTER,
            f"--web.listen-address=127.0.0.1:{exporter_port}",
            "--collector.disable-defaults",
            "--collector.loadavg",
            "--collector.meminfo",
            "--collector.cpu",
            "--collector.stat",
        ]
        prom_args = [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ]
        with (
            process(exporter_args, exporter_log) as exporter,
            process(prom_args, prom_log) as prometheus,
        ):
            wait_http(f"http://127.0.0.1:{exporter_port}/metrics", exporter, exporter_log)
            wait_http(f"{prom_base}/-/ready", prometheus, prom_log)
            wait_scraping(prom_base)
            start = time.time()
            time.sleep(8)
            end = time.time() - 2  # closed: Prometheus has scraped everything before this
            expected = prometheus_samples(prom_base, start, end)
            user = login(fs_base, "pw")
            stored: Samples = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                stored = fleetscope_samples(fs_base, user, start, end)
                if sum(map(len, stored.values())) >= sum(map(len, expected.values())):
                    break
                time.sleep(0.5)
            failed = remote_storage_counter(
                prom_base, "prometheus_remote_storage_samples_failed_total"
            )
            dropped = remote_storage_counter(
                prom_base, "prometheus_remote_storage_samples_dropped_total"
            )
            sent = remote_storage_counter(prom_base, "prometheus_remote_storage_samples_total")
        with sqlite3.connect(data_dir / "fleetscope.db") as db:
            metadata = dict(db.execute("SELECT metric_family_name, type FROM series_metadata"))
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    total = sum(map(len, expected.values()))
    # node_exporter's cpu, stat, meminfo and loadavg, and Prometheus' own up and scrape_*.
    assert len(expected) > 50 and total > 5 * len(expected), (len(expected), total)
    assert (failed, dropped) == (0, 0)
    assert sent >= total
    assert stored.keys() == expected.keys()
    for series, points in expected.items():
        assert stored[series] == points, series  # same times, same values, none twice
    assert metadata.get("node_load1") == "gauge"
    assert metadata.get("node_cpu_seconds_total") == "counter"
    assert "level=error" not in prom_log.read_text().lower()
