"""The host page in Debian's Chromium: every panel with data, panels absent without it, the
per-core heatmap, zoom across charts, the process table's sorting and a group's history, live
advance, dark mode and a phone-sized layout. Screenshots go to SCREENSHOT_DIR when it is set
(docs/screenshots are made that way)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleetscope.model.payload import AgentInfo, HostIdentity, Payload, Snapshot
from tests.browser import wait_true
from tests.busy_host import GROUPS, INTERVAL_SECONDS, BusyHost
from tests.helpers import free_port, payload_json, snapshot
from tests.processes import credentials, running, wait_ready
from tests.web.test_dashboard_browser import VIEWPORT, browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow
PASSWORD = "pw-for-host-page"


def send(base: str, key: str, host: str, snapshots: list[Snapshot]) -> None:
    for start in range(0, len(snapshots), 500):
        body = Payload(
            schema_version=1,
            batch_id=uuid.uuid4(),
            agent=AgentInfo(version="test"),
            host=HostIdentity(machine_id=f"m-{host}", hostname=host),
            snapshots=snapshots[start : start + 500],
        )
        response = httpx.post(
            f"{base}/api/v1/ingest",
            content=payload_json(body),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        assert response.status_code == 202, response.text


def host_ids(base: str, *names: str) -> dict[str, int]:
    """The hosts' ids once digest has stored them."""
    token = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
    ).json()["token"]
    deadline = time.monotonic() + 30
    while True:
        hosts = httpx.get(f"{base}/api/v1/hosts", headers={"Authorization": f"Bearer {token}"})
        found = {h["name"]: h["id"] for h in hosts.json()}
        if set(names) <= found.keys():
            return found
        assert time.monotonic() < deadline, f"{names} not stored in 30 s: {found}"
        time.sleep(0.2)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["server", "--data-dir", str(data_dir), "--port", str(port)]
    with running(args, data_dir, {"FLEETSCOPE_ADMIN_PASSWORD": PASSWORD}) as process:
        wait_ready(base, process)
        yield base, credentials(data_dir)["agent_api_key"]


def log_in(page: Any, base: str, path: str) -> None:
    page.goto(base + path)
    page.wait_for_url("**/login?next=**")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + path)


def shoot(page: Any, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    extra = os.environ.get("SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(extra) / name)


def test_the_host_page_draws_every_panel(
    server: tuple[str, str],
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    base, key = server
    busy = BusyHost(cores=64, disks=("sda", "nvme0n1"), interfaces=("eth0", "lo"), errors=True)
    now = datetime.now(UTC)
    count = 300
    send(
        base,
        key,
        "busy-1",
        [
            busy.snapshot(now - timedelta(seconds=INTERVAL_SECONDS * (count - i)), i)
            for i in range(count)
        ],
    )
    send(base, key, "bare-1", [snapshot(now - timedelta(seconds=10 * (5 - i))) for i in range(5)])
    ids = host_ids(base, "busy-1", "bare-1")

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, base, f"/hosts/{ids['busy-1']}")
    page.wait_for_selector("body[data-ready='1']")

    # Every panel with data is shown, with its charts drawn.
    for panel in ("cpu", "memory", "network", "disk", "filesystems", "processes"):
        assert page.locator(f'[data-panel="{panel}"]').is_visible(), panel
    for chart in ("cpu", "load", "memory", "net:eth0", "net_errors:eth0", "tcp",
                  "disk_iops:nvme0n1", "disk_await:sda", "filesystems", "process_cpu"):  # fmt: skip
        assert page.locator(f'[data-chart="{chart}"] canvas').count() >= 1, chart
    assert page.locator('[data-chart="net:lo"]').count() == 0
    # 64 cores, one heatmap row each: the canvas is tall enough for all of them
    heat = page.locator('[data-chart="cpu_cores"] canvas')
    assert heat.bounding_box()["height"] >= 64 * 3
    # the stacked CPU legend names the modes
    legend = page.locator('[data-chart="cpu"] .u-legend').inner_text()
    for mode in ("user", "system", "iowait", "steal"):
        assert mode in legend
    # days to full from the fill trend
    assert "days" in page.locator('[data-trend="/"]').inner_text()
    shoot(page, tmp_path, "host-panels.png")

    # Zoom on one chart moves every chart.
    page.locator('[data-chart="memory"]').scroll_into_view_if_needed()
    box = page.locator('[data-chart="memory"] .u-over').bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 40, steps=5)
    page.mouse.up()
    page.wait_for_selector("#zoom-reset:not([hidden])")
    page.click("#zoom-reset")
    page.wait_for_selector("#zoom-reset[hidden]", state="attached")

    # The process table sorts by any column; a group opens its own history.
    table = page.locator("#group-table")
    names = table.locator("tbody td.group").all_inner_texts()
    assert names == list(reversed(GROUPS))  # CPU descending by default
    table.locator('th[data-sort="name"]').click()
    assert table.locator("tbody td.group").all_inner_texts() == sorted(GROUPS)
    table.locator('th[data-sort="max_num_procs"]').click()
    assert table.locator("tbody td.group").all_inner_texts()[0] == GROUPS[-1]
    table.locator("tbody tr", has_text="nginx").click()
    page.wait_for_selector('[data-chart="group_cpu:nginx"] canvas')

    # Live: a new sample advances the charts without a reload.
    drawn = float(page.evaluate("() => document.body.dataset.lastSample"))
    sent = datetime.now(UTC)
    send(base, key, "busy-1", [busy.snapshot(sent, count + 1)])
    wait_true(page, "t => Number(document.body.dataset.lastSample) >= t", sent.timestamp() - 1)
    assert drawn < sent.timestamp() - 1
    assert not errors, errors

    # A host that sends only CPU and memory: no empty network, disk or process panels.
    page.goto(f"{base}/hosts/{ids['bare-1']}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator('[data-panel="cpu"]').is_visible()
    for panel in ("network", "disk", "filesystems", "processes"):
        assert page.locator(f'[data-panel="{panel}"]').is_hidden(), panel
    assert page.locator('[data-card="processes"]').count() == 0
    # The cards' big numbers are the API's headline (`latest`): 12.5 % busy, 1 of 8 GB used.
    assert page.locator('[data-testid="cpu-value"]').inner_text() == "12.5%"
    assert page.locator('[data-testid="memory-value"]').inner_text() == "12.5%"
    context.close()


def test_dark_mode_and_a_phone(
    server: tuple[str, str],
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    base, key = server
    busy = BusyHost(cores=8)
    now = datetime.now(UTC)
    send(
        base,
        key,
        "busy-2",
        [busy.snapshot(now - timedelta(seconds=10 * (60 - i)), i) for i in range(60)],
    )
    host_id = host_ids(base, "busy-2")["busy-2"]

    dark = browser.new_context(viewport=VIEWPORT, color_scheme="dark")
    page = dark.new_page()
    log_in(page, base, f"/hosts/{host_id}")
    page.wait_for_selector("body[data-ready='1']")
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 20, 26)"  # --bg in the dark scheme
    shoot(page, tmp_path, "host-dark.png")
    dark.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    log_in(page, base, f"/hosts/{host_id}")
    page.wait_for_selector("body[data-ready='1']")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    chart = page.locator('[data-chart="memory"]').bounding_box()
    assert chart["width"] <= 390
    shoot(page, tmp_path, "host-phone.png")
    phone.close()
