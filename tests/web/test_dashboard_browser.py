"""The dashboard in a real browser: Debian's chromium driven by playwright, against a real
`fleetscope up` (server, embedded digest and this machine's agent) on a free port, plus a few
hosts fed through the ingest API. Log in, read the overview, filter and sort it, open a host,
see a value change live (no reload), change the time range, and no console errors anywhere.

Screenshots at 1366x768 go to tmp_path/screenshots, and also to SCREENSHOT_DIR when
set (docs/screenshots comes from there). Never `playwright install`: the browser is Debian's."""

from __future__ import annotations

import math
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from msgspec.structs import replace
from playwright.sync_api import expect

from fleetscope.model.inventory import (
    BatteryInventory,
    CpuInventory,
    DmiInventory,
    DriveInventory,
    GpuInventory,
    InventorySection,
    OsInventory,
)
from fleetscope.model.payload import AgentInfo, HostIdentity, Payload
from tests.browser import wait_true
from tests.conftest import require
from tests.helpers import free_port, payload_json, snapshot
from tests.processes import credentials, running, wait_ready
from tests.web.test_dashboard_api import full_snapshot

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}
FED_HOSTS = ("db-1", "web-1", "web-2", "laptop-1", "cache-1")


def feed(base: str, key: str, host: str, snapshots: list[Any]) -> None:
    body = Payload(
        schema_version=1,
        batch_id=uuid.uuid4(),
        agent=AgentInfo(version="test"),
        host=HostIdentity(machine_id=f"m-{host}", hostname=host),
        snapshots=snapshots,
    )
    response = httpx.post(
        f"{base}/api/v1/ingest",
        content=payload_json(body),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text


def history(host_index: int, now: datetime) -> list[Any]:
    """30 minutes at 10 s, a different wave per host; the last host has only CPU and memory."""
    out = []
    for i in range(180):
        at = now - timedelta(seconds=10 * (180 - i))
        cpu = 40 + 30 * math.sin(i / 15 + host_index) + 10 * host_index
        cpu = max(0.0, min(100.0, cpu))
        out.append(
            snapshot(at, cpu_percent=round(cpu, 1), used=2e9 + 1e9 * host_index)
            if host_index == len(FED_HOSTS) - 1
            else full_snapshot(at, round(cpu, 1))
        )
    return out


def audit(host: str, battery: bool) -> InventorySection:
    """An inventory audit; the laptop has a battery and a GPU, the server neither."""
    return InventorySection(
        content_sha256=f"{len(host):064x}",
        agent_version="test",
        hostname=host,
        os=OsInventory(
            pretty_name="Debian GNU/Linux 12 (bookworm)",
            kernel="6.1.0-26-amd64",
            architecture="x86_64",
        ),
        cpu=CpuInventory(model="Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", cores=4, threads=8),
        memory_total_bytes=16 * 2**30,
        dmi=DmiInventory(
            system_vendor="LENOVO",
            product_name="20XW0055GE",
            product_version="ThinkPad X1 Carbon Gen 9",
        ),
        drives=[
            DriveInventory(
                name="nvme0n1",
                model="SAMSUNG MZVL2512HCJQ",
                size_bytes=512e9,
                rotational=False,
                removable=False,
            )
        ],
        gpus=[
            GpuInventory(
                pci_address="0000:00:02.0",
                vendor_id="0x8086",
                device_id="0x9a49",
                class_id="0x030000",
            )
        ]
        if battery
        else [],
        battery=BatteryInventory(percent=83.0, plugged=False, seconds_left=11_400)
        if battery
        else None,
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 (optional dev dep)
    except ImportError:
        require(False, "the playwright package is not installed")
        raise
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_dashboard_in_chromium(tmp_path: Path, browser: Any) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    extra = os.environ.get("SCREENSHOT_DIR")

    def screenshot(page: Any, name: str) -> None:
        page.screenshot(path=str(shots / name))
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(shots / name, Path(extra) / name)

    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"FLEETSCOPE_ADMIN_PASSWORD": "pw-for-browser"}
    with running(
        ["up", "--data-dir", str(data_dir), "--port", str(port), "--interval", "2"], data_dir, env
    ) as up:
        wait_ready(base, up)
        key = credentials(data_dir)["agent_api_key"]
        now = datetime.now(UTC)
        for index, host in enumerate(FED_HOSTS):
            feed(base, key, host, history(index, now))
        for host, battery in (("laptop-1", True), ("web-1", False)):
            inventory = replace(full_snapshot(now, 20.0), inventory=audit(host, battery))
            feed(base, key, host, [inventory])

        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Log in: the overview redirects to the login page and back.
        page.goto(base + "/")
        page.wait_for_url("**/login?next=/")
        page.fill("#password", "pw-for-browser")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")

        # The overview lists every host, with live/stale/offline counts and sparklines.
        for host in FED_HOSTS:
            page.locator("#hosts tbody tr", has_text=host).wait_for()
        page.wait_for_selector('#conn[data-state="open"]')
        assert page.locator("#summary .tile.live .value").inner_text() != "0"
        assert page.locator("#hosts tbody tr svg.spark polyline").count() >= 3 * 3
        # The heat strip has a cell per row of the table.
        rows = page.locator("#hosts tbody tr").count()
        wait_true(
            page,
            "n => Number(document.querySelector('#heatstrip canvas').dataset.cells) === n",
            rows,
        )
        screenshot(page, "overview.png")

        page.fill("#filter", "web-")
        assert page.locator("#hosts tbody tr").count() == 2
        assert page.locator("#heatstrip canvas").get_attribute("data-cells") == "2"
        page.fill("#filter", "")
        page.click('#hosts th[data-sort="cpu_percent"]')
        page.click('#hosts th[data-sort="cpu_percent"]')  # descending
        cpu_column = page.locator('#hosts tbody [data-field="cpu_percent"]').all_inner_texts()
        shown = [float(text.rstrip("%")) for text in cpu_column if text != "\N{EN DASH}"]
        assert len(shown) >= len(FED_HOSTS)
        assert shown == sorted(shown, reverse=True)
        # Live points keep the sorted table in order: the lowest fed host jumps to the top.
        names = page.locator("#hosts tbody tr td:nth-child(2)").all_inner_texts()
        lowest = [name for name in names if name in FED_HOSTS][-1]
        at = datetime.now(UTC)
        point = (
            snapshot(at, cpu_percent=99.9, used=6e9)
            if lowest == FED_HOSTS[-1]
            else full_snapshot(at, 99.9)
        )
        feed(base, key, lowest, [point])
        # expect(), not wait_for_function: that evaluates a string, which the CSP forbids.
        expect(page.locator("#hosts tbody tr td:nth-child(2)").first).to_have_text(lowest)
        cpu_column = page.locator('#hosts tbody [data-field="cpu_percent"]').all_inner_texts()
        shown = [float(text.rstrip("%")) for text in cpu_column if text != "\N{EN DASH}"]
        assert shown == sorted(shown, reverse=True)

        # The host page: cards only for sections the host has.
        page.click("#hosts a:text-is('db-1')")
        page.wait_for_url("**/hosts/*")
        page.wait_for_selector('[data-testid="cpu-value"]')
        page.wait_for_selector('[data-chart="cpu_cores"] canvas, [data-chart="memory"] canvas')
        cards = page.locator("article.card").evaluate_all("els => els.map(e => e.dataset.card)")
        assert set(cards) == {"cpu", "memory", "filesystem", "network"}
        page.wait_for_selector('#conn[data-state="open"]')

        # Live: a new sample reaches the page over the WebSocket, no reload.
        page.evaluate("window.__same_page = true")
        sent = time.monotonic()
        feed(base, key, "db-1", [full_snapshot(datetime.now(UTC), 87.6)])
        expect(page.locator('[data-testid="cpu-value"]')).to_have_text("87.6%", timeout=5000)
        assert time.monotonic() - sent < 3.0  # 2 s from the server, plus the browser's part
        assert page.evaluate("window.__same_page") is True

        # The time range: 6 h asks the API for six hours.
        def six_hours(response: Any) -> bool:  # not a live update's short stretch
            query = parse_qs(urlparse(response.url).query)
            if "/charts?" not in response.url:
                return False
            span = float(query["end_time"][0]) - float(query["start_time"][0])
            return span > 3600

        with page.expect_response(six_hours) as answer:
            page.click("#ranges button[data-range='21600']")
        report = answer.value.json()
        start = datetime.fromisoformat(report["start_time"])
        end = datetime.fromisoformat(report["end_time"])
        assert abs((end - start).total_seconds() - 6 * 3600) < 5
        assert page.locator("#ranges button.on").inner_text() == "6 h"
        page.click("#ranges button[data-range='3600']")
        page.wait_for_timeout(300)
        screenshot(page, "host.png")

        # Inventory cards: battery, GPU and system for the laptop; the server's audit has no
        # battery and no GPU, so it gets the system card alone; db-1 sent no audit (above).
        page.goto(base + "/")
        page.click("#hosts a:text-is('laptop-1')")
        page.wait_for_selector('[data-testid="battery-value"]')
        assert page.locator('[data-testid="battery-value"]').inner_text() == "83%"
        battery = page.locator('article[data-card="battery"]').inner_text()
        assert "on battery" in battery and "3 h 10 min" in battery
        assert "Intel 0x9a49" in page.locator('article[data-card="gpu"]').inner_text()
        system = page.locator('article[data-card="inventory"]').inner_text()
        assert "Debian GNU/Linux 12" in system and "SAMSUNG MZVL2512HCJQ" in system
        page.wait_for_selector('[data-chart="memory"] canvas')
        page.locator('article[data-card="inventory"]').scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        screenshot(page, "host-inventory.png")
        page.goto(base + "/")
        page.click("#hosts a:text-is('web-1')")
        page.wait_for_selector('article[data-card="inventory"]')
        cards = page.locator("article.card").evaluate_all("els => els.map(e => e.dataset.card)")
        assert "battery" not in cards and "gpu" not in cards, cards

        # The machine's own agent shows up too, with its real sections.
        page.goto(base + "/")
        page.locator("#hosts tbody tr").nth(len(FED_HOSTS)).wait_for()
        names = page.locator("#hosts tbody td:nth-child(2) a").all_inner_texts()
        [local] = [name for name in names if name not in FED_HOSTS]
        page.click(f"#hosts a:text-is('{local}')")
        page.wait_for_selector('[data-chart="memory"] canvas')
        page.wait_for_selector('#conn[data-state="open"]')
        # Its process groups (the processes collector is on by default), top by CPU.
        page.wait_for_selector('article[data-card="processes"] tbody tr', timeout=15_000)
        screenshot(page, "host-local.png")
        context.close()
        assert errors == [], errors
