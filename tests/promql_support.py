"""Shared by the Prometheus-API tests: one synthetic data set written both as OpenMetrics (for
promtool's TSDB import into Debian's prometheus) and as pushed exposition text (fleetscope's
POST /api/v1/ingest/prometheus, with per-sample timestamps), and the real servers to load it."""

from __future__ import annotations

import random
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from fleetscope.cli.server import build_server
from fleetscope.cli.settings import ServerSettings
from fleetscope.config.settings import settings_from
from tests.conftest import require
from tests.helpers import free_port
from tests.server import ADMIN_PASSWORD

HOSTS = ("alpha", "beta", "gamma")
INTERVAL_MS = 15_000
SAMPLES = 240  # an hour at 15 s
BUCKETS = ("0.1", "0.5", "1", "+Inf")


@dataclass
class DataSet:
    start_ms: int
    # (host, metric name, labels) -> [(ms, value)]
    series: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[tuple[int, float]]] = field(
        default_factory=dict
    )

    @property
    def end_ms(self) -> int:
        return self.start_ms + (SAMPLES - 1) * INTERVAL_MS

    def openmetrics(self) -> str:
        lines = []
        by_name: dict[str, list[str]] = {}
        for (host, name, labels), points in sorted(self.series.items()):
            inner = ",".join(f'{k}="{v}"' for k, v in (("host", host), *labels))
            for ms, value in points:
                by_name.setdefault(name, []).append(f"{name}{{{inner}}} {value!r} {ms / 1000:.3f}")
        for name, samples in by_name.items():
            lines.append(f"# TYPE {name} gauge")
            lines.extend(samples)
        lines.append("# EOF")
        return "\n".join(lines) + "\n"

    def exposition(self, host: str) -> str:
        lines = []
        for (owner, name, labels), points in sorted(self.series.items()):
            if owner != host:
                continue
            inner = ",".join(f'{k}="{v}"' for k, v in labels)
            for ms, value in points:
                lines.append(f"{name}{{{inner}}} {value!r} {ms}")
        return "\n".join(lines) + "\n"


def make_data(now_ms: int, seed: int = 7) -> DataSet:
    """Three hosts scraped every 15 s (each host at its own jittered times) for an hour that
    ended two hours ago: counters (one with a reset), gauges and a histogram."""
    rng = random.Random(seed)
    start = (now_ms - 3 * 3600_000) // 60_000 * 60_000
    data = DataSet(start)
    for h, host in enumerate(HOSTS):
        times = [start + i * INTERVAL_MS + rng.randint(0, 1500) + 300 * h for i in range(SAMPLES)]
        counters = {}
        for cpu in ("0", "1"):
            for mode in ("user", "system", "idle"):
                counters[("node_cpu_seconds_total", (("cpu", cpu), ("mode", mode)))] = (
                    rng.uniform(0, 1e4),
                    {"user": 3.0, "system": 1.0, "idle": 10.0}[mode] * (1 + h),
                )
        counters[("http_requests_total", (("code", "200"),))] = (rng.uniform(0, 100), 40.0)
        counters[("http_requests_total", (("code", "500"),))] = (0.0, 2.0)
        for i, (key, (base, pace)) in enumerate(counters.items()):
            value, points = base, []
            for n, ms in enumerate(times):
                value += round(rng.uniform(0.2, 1.8) * pace, 3)
                if host == "beta" and i == 0 and n == 120:
                    value = round(rng.uniform(0, 5), 3)  # a counter reset
                points.append((ms, value))
            data.series[(host, key[0], key[1])] = points
        for sensor in ("a", "b"):
            data.series[(host, "temperature_celsius", (("sensor", sensor),))] = [
                (ms, round(40 + 10 * h + rng.gauss(0, 3), 2)) for ms in times
            ]
        data.series[(host, "memory_used_bytes", ())] = [
            (ms, float(rng.randint(2**30, 2**33))) for ms in times
        ]
        _histograms(data, rng, host, times)
    return data


@dataclass
class Fleetscope:
    url: str
    token: str
    client: httpx.Client

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def run_fleetscope(data_dir: Path) -> Iterator[Fleetscope]:
    """The real app under uvicorn on a free 127.0.0.1 port (promtool needs a real socket)."""
    settings = settings_from(
        ServerSettings, {"data_dir": data_dir, "admin_password": ADMIN_PASSWORD}
    )
    server = build_server(settings)
    port = free_port()
    config = uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    with httpx.Client(base_url=url, timeout=30) as client:
        while True:
            try:
                if client.get("/livez").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "fleetscope did not start"
            time.sleep(0.05)
        login = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        try:
            yield Fleetscope(url, login.json()["token"], client)
        finally:
            runner.should_exit = True
            thread.join(timeout=20)


def agent_key(data_dir: Path) -> str:
    found = dict(
        line.split("=", 1) for line in (data_dir / "initial-credentials").read_text().splitlines()
    )
    return found["agent_api_key"]


def push(fs: Fleetscope, data_dir: Path, data: DataSet) -> None:
    key = agent_key(data_dir)
    for host in HOSTS:
        response = fs.client.post(
            "/api/v1/ingest/prometheus",
            params={"device_name": host},
            content=data.exposition(host).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain; version=0.0.4"},
        )
        assert response.status_code in {200, 202}, response.text


def wait_for_series(fs: Fleetscope, data: DataSet, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    want = len(data.series)
    while True:
        response = fs.client.get(
            "/prometheus/api/v1/series",
            params={
                "match[]": '{__name__=~".+"}',
                "start": data.start_ms / 1000,
                "end": data.end_ms / 1000 + 60,
            },
            headers=fs.headers(),
        )
        found = response.json().get("data", []) if response.status_code == 200 else []
        if len(found) >= want:
            return
        assert time.monotonic() < deadline, f"{len(found)} of {want} series digested"
        time.sleep(0.1)


def run_prometheus(tmp: Path, data: DataSet) -> Iterator[str]:
    """Debian's prometheus over a TSDB that promtool built from the data set's OpenMetrics."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    require(prometheus is not None and promtool is not None, "Debian's prometheus is not installed")
    assert prometheus is not None and promtool is not None
    source = tmp / "data.om"
    source.write_text(data.openmetrics())
    tsdb = tmp / "tsdb"
    tsdb.mkdir()
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(tsdb)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    config = tmp / "prometheus.yml"
    config.write_text("global: {}\n")
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "prometheus exited"
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _histograms(data: DataSet, rng: random.Random, host: str, times: list[int]) -> None:
    """request_seconds: a histogram per path, its buckets cumulative like a client's."""
    for path in ("/a", "/b"):
        totals = dict.fromkeys(BUCKETS, 0.0)
        series = {le: [] for le in BUCKETS}
        total_sum, sums, counts = 0.0, [], []
        for ms in times:
            for _ in range(rng.randint(0, 6)):
                observed = rng.expovariate(3.0 if path == "/a" else 1.2)
                total_sum += observed
                for le in BUCKETS:
                    if observed <= float(le):
                        totals[le] += 1
            for le in BUCKETS:
                series[le].append((ms, totals[le]))
            sums.append((ms, round(total_sum, 6)))
            counts.append((ms, totals["+Inf"]))
        for le in BUCKETS:
            labels = (("le", le), ("path", path))
            data.series[(host, "request_seconds_bucket", labels)] = series[le]
        data.series[(host, "request_seconds_sum", (("path", path),))] = sums
        data.series[(host, "request_seconds_count", (("path", path),))] = counts
