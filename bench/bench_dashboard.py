"""The dashboard in Debian's Chromium against a real `fleetscope server` (SQLite), three figures:

1. Host page, 7 days of 10 s data from a 64-core host: time from navigation until every chart
   is drawn (the page sets body[data-ready] after the last chart), for the 7 d, 24 h and 1 h
   ranges; the median of --runs loads.
2. Live: the host page (15 min range) while that host sends a sample every second for
   --live-seconds: the page's main-thread CPU (Chromium's Performance.getMetrics TaskDuration
   over wall time: script, layout and paint of the renderer's main thread) and how many charts
   it keeps advancing.
3. Fleet overview with --hosts hosts: first paint (navigation until the table has every row and
   the heat strip every cell) and the main-thread time per live update (every host sends a
   sample; TaskDuration over the updates received).

    .venv/bin/python bench/bench_dashboard.py [--days 7] [--cores 64] [--hosts 1000] [--runs 5]

How the 7 days are stored: BusyHost (tests/busy_host.py) snapshots flattened by digest's own
transform and written by StoreWriter, then rolled up by Rollups.run, exactly as digest leaves
them, into the data directory that the server then opens. Loading takes minutes; the figures
are wall times on this machine with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import wait_true
from tests.busy_host import INTERVAL_SECONDS, BusyHost
from tests.helpers import free_port, payload_json, snapshot
from tests.processes import credentials, running, wait_ready

from fleetscope.digest.transform import payload_rows
from fleetscope.model.payload import AgentInfo, HostIdentity, Payload
from fleetscope.store.engine import make_engine, sqlite_url
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.writer import StoreWriter

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "bench-dashboard"
HOUR = 3600


def payload(host: str, snapshots: list[Any]) -> Payload:
    return Payload(
        schema_version=1,
        batch_id=uuid.uuid4(),
        agent=AgentInfo(version="bench"),
        host=HostIdentity(machine_id=f"m-{host}", hostname=host),
        snapshots=snapshots,
    )


def load_week(data_dir: Path, busy: BusyHost, days: float, now: datetime) -> int:
    engine = make_engine(sqlite_url(data_dir))
    writer = StoreWriter(engine)
    maintenance = StoreMaintenance(engine, writer.partitions, clock=now.timestamp)
    count = int(days * 86400 / INTERVAL_SECONDS)
    start = now - timedelta(seconds=count * INTERVAL_SECONDS)
    started = time.perf_counter()
    per_batch = int(HOUR / INTERVAL_SECONDS)
    for first in range(0, count, per_batch):
        snaps = [
            busy.snapshot(start + timedelta(seconds=INTERVAL_SECONDS * i), i)
            for i in range(first, min(first + per_batch, count))
        ]
        writer.write_batches([payload_rows(1, payload("busy-64", snaps))])
    print(f"  {count} snapshots written: {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    rolled = maintenance.rollups.run(max_rounds=100_000)
    print(f"  rollups: {rolled.buckets} buckets: {time.perf_counter() - started:.0f} s")
    engine.dispose()
    return count


def send(base: str, key: str, host: str, snapshots: list[Any]) -> None:
    response = httpx.post(
        f"{base}/api/v1/ingest",
        content=payload_json(payload(host, snapshots)),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )
    response.raise_for_status()


def log_in(context: Any, base: str) -> None:
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    page.close()


def task_seconds(cdp: Any) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def host_page(context: Any, base: str, host_id: int, runs: int) -> None:
    print("host page, 64 cores, load until every chart is drawn (median of runs):")
    for label, button in (("7 d", "604800"), ("24 h", "86400"), ("1 h", "3600")):
        times = []
        charts = 0
        for _ in range(runs):
            page = context.new_page()
            page.goto(f"{base}/hosts/{host_id}")
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            loads = int(page.evaluate("() => Number(document.body.dataset.loads)"))
            started = time.perf_counter()
            page.click(f"#ranges button[data-range='{button}']")
            wait_true(page, "n => Number(document.body.dataset.loads) > n", loads, timeout=120)
            times.append(time.perf_counter() - started)
            charts = page.locator(".chart-box").count()
            page.close()
        print(f"  {label:>5}: {1000 * statistics.median(times):7.0f} ms  ({charts} charts)")


def live(context: Any, base: str, key: str, busy: BusyHost, seconds: int) -> None:
    page = context.new_page()
    host = "live-64"
    now = datetime.now(UTC)
    send(base, key, host, [busy.snapshot(now - timedelta(seconds=60 - i), i) for i in range(60)])
    time.sleep(2)
    ids = {h["name"]: h["id"] for h in page.request.get(f"{base}/api/v1/hosts").json()}
    page.goto(f"{base}/hosts/{ids[host]}")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    page.click("#ranges button[data-range='900']")
    page.wait_for_load_state("networkidle")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    before = task_seconds(cdp)
    started = time.perf_counter()
    for i in range(seconds):
        send(base, key, host, [busy.snapshot(datetime.now(UTC), 60 + i)])
        time.sleep(max(0.0, started + i + 1 - time.perf_counter()))
    wall = time.perf_counter() - started
    used = task_seconds(cdp) - before
    charts = page.locator(".chart-box").count()
    print(
        f"live, one sample a second for {seconds} s, {charts} charts advancing: "
        f"main thread {100 * used / wall:.1f} % of one core"
    )
    page.close()


def overview(context: Any, base: str, key: str, hosts: int) -> None:
    now = datetime.now(UTC)
    started = time.perf_counter()
    for h in range(hosts):
        send(
            base, key, f"fleet-{h:04}", [snapshot(now - timedelta(seconds=10), cpu_percent=h % 100)]
        )
    print(f"overview: {hosts} hosts sent in {time.perf_counter() - started:.0f} s")
    time.sleep(3)
    page = context.new_page()
    started = time.perf_counter()
    page.goto(base + "/")
    wait_true(
        page,
        "n => document.querySelectorAll('#hosts tbody tr').length >= n && "
        "Number(document.querySelector('#heatstrip canvas').dataset.cells) >= n",
        hosts,
        timeout=120,
    )
    print(f"  first paint, {hosts} rows and cells: {1000 * (time.perf_counter() - started):.0f} ms")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    before = task_seconds(cdp)
    began = time.perf_counter()
    rounds = 5
    for r in range(rounds):
        at = datetime.now(UTC)
        for h in range(0, hosts, 100):
            for i in range(h, min(hosts, h + 100)):
                send(base, key, f"fleet-{i:04}", [snapshot(at, cpu_percent=(i + 7 * r) % 100)])
        time.sleep(2)
    used = task_seconds(cdp) - before
    wall = time.perf_counter() - began
    print(
        f"  live updates: {rounds} rounds of {hosts} host samples in {wall:.0f} s: main thread "
        f"{1000 * used / rounds:.0f} ms per round, {100 * used / wall:.0f} % of one core"
    )
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--cores", type=int, default=64)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--live-seconds", type=int, default=60)
    parser.add_argument(
        "--only", choices=("host", "live", "overview"), help="measure one part (no 7-day load)"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (a dev dependency)

    busy = BusyHost(cores=args.cores, disks=("sda", "nvme0n1"), interfaces=("eth0", "lo"))
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, port = Path(tmp) / "data", free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = ["server", "--data-dir", str(data_dir), "--port", str(port)]
        env = {"FLEETSCOPE_ADMIN_PASSWORD": PASSWORD}
        with running(cmd, data_dir, env) as process:  # first start: schema and credentials
            wait_ready(base, process)
        print(
            f"loading {args.days:g} days of a {args.cores}-core host "
            f"(load {os.getloadavg()[0]:.1f})"
        )
        if args.only in (None, "host"):
            load_week(data_dir, busy, args.days, datetime.now(UTC))
        with running(cmd, data_dir, env) as process, sync_playwright() as p:
            wait_ready(base, process)
            key = credentials(data_dir)["agent_api_key"]
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            log_in(context, base)
            hosts = context.request.get(f"{base}/api/v1/hosts").json() or [{"id": 0}]
            print(f"measuring (load {os.getloadavg()[0]:.1f})")
            if args.only in (None, "host"):
                host_page(context, base, hosts[0]["id"], args.runs)
            if args.only in (None, "live"):
                live(context, base, key, BusyHost(cores=8), args.live_seconds)
            if args.only in (None, "overview"):
                overview(context, base, key, args.hosts)
            print(f"done (load {os.getloadavg()[0]:.1f})")
            browser.close()


if __name__ == "__main__":
    main()
