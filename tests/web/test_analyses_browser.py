"""The Analyses page and the host page's latest score in Debian's chromium (playwright), against
a real `fleetscope server`: an uploaded collection file is analysed by itself, one more
analysis is started from the page's form, the list shows status and fit, the HTML report
opens and the PDF downloads. Screenshots go to tmp_path (and SCREENSHOT_DIR when set)."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import wait_true
from tests.helpers import free_port
from tests.processes import credentials, running, wait_ready
from tests.synthetic_host import Scenario, const, snapshots, write_collection
from tests.web.test_dashboard_browser import VIEWPORT, browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


def test_analyses_page_in_chromium(tmp_path: Path, browser: Any) -> None:  # noqa: F811
    shots = tmp_path / "screenshots"
    shots.mkdir()
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    password = "pw-for-analyses"
    env = {"FLEETSCOPE_ADMIN_PASSWORD": password}
    with running(["server", "--data-dir", str(data_dir), "--port", str(port)], data_dir, env) as up:
        wait_ready(base, up, timeout=120)  # on a loaded 2-core machine, start-up is slow
        key = credentials(data_dir)["agent_api_key"]
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=50)
        busy = Scenario(busy=const(0.97), load_per_cpu=const(3.0))
        path = write_collection(tmp_path / "c.jsonl", snapshots(busy, 240, 10.0, start), "web-7")
        sent = httpx.post(
            f"{base}/api/v1/collections",
            files={"file": ("c.jsonl", path.read_bytes(), "application/x-ndjson")},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert sent.status_code == 202, sent.text

        page = browser.new_context(viewport=VIEWPORT, accept_downloads=True).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/login?next=/analyses")
        page.fill("#username", "admin")
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url("**/analyses")
        # The upload's own analysis appears and finishes (the page refreshes while one runs).
        page.wait_for_selector("#analyses tbody tr td.fit:text-matches('^[0-9]+$')", timeout=90_000)
        first = page.locator("#analyses tbody tr").first
        assert "not fit" in first.inner_text()
        assert "upload" in first.inner_text()
        assert int(first.locator("td.fit").inner_text()) < 50

        # Start one from the form: the host's upload window.
        page.select_option("#an-host", "web-7")
        local = start.astimezone()
        page.fill("#an-start", local.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#an-end", (local + timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M"))
        page.click("#an-submit")
        page.wait_for_selector("#an-message:text-matches('analysis [0-9]+ started')")
        wait_true(
            page,
            "() => document.querySelectorAll('#analyses tbody td.fit').length === 2 && "
            "[...document.querySelectorAll('#analyses tbody td.fit')]"
            ".every(td => /^[0-9]+$/.test(td.textContent))",
            timeout=90,
        )
        page.screenshot(path=str(shots / "analyses.png"))

        with page.expect_download() as download:
            page.locator("#analyses tbody tr").first.locator("a:text-is('PDF')").click()
        saved = tmp_path / "dl.pdf"
        download.value.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF-")
        with page.context.expect_page() as opened:
            page.locator("#analyses tbody tr").first.locator("a:text-is('HTML')").click()
        report = opened.value
        report.wait_for_load_state()
        assert "Performance analysis: web-7" in report.inner_text("h1")
        report.close()

        # The host page shows the latest score.
        page.locator("#analyses tbody tr").first.locator("a:text-is('web-7')").click()
        page.wait_for_url("**/hosts/*")
        page.wait_for_selector("#host-fit b")
        assert int(page.inner_text("#host-fit b")) < 50
        page.screenshot(path=str(shots / "host-score.png"))
        assert errors == []
    extra = os.environ.get("SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, Path(extra) / shot.name)
