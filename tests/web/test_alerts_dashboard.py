"""Alerts on the dashboard, in Debian's chromium: the overview shows the firing alerts above
everything else, a host page only its own. Screenshots go to tmp_path/screenshots (and to
SCREENSHOT_DIR when set)."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alert_sinks import WebhookSink, wait_for
from tests.helpers import free_port
from tests.processes import credentials, login, running, wait_ready
from tests.web.test_dashboard_api import full_snapshot
from tests.web.test_dashboard_browser import VIEWPORT, browser, feed

__all__ = ["browser"]  # the fixture, shared with the dashboard's own browser test

pytestmark = pytest.mark.slow


def test_alerts_on_overview_and_host_page(tmp_path: Path, browser: Any) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"FLEETSCOPE_ADMIN_PASSWORD": "pw", "FLEETSCOPE_ALERT_INTERVAL_SECONDS": "0.5"}
    args = ["server", "--data-dir", str(data_dir), "--port", str(port)]
    with WebhookSink() as hook, running(args, data_dir, env) as server:
        wait_ready(base, server, timeout=90)  # chromium starts beside it on 2 shared cores
        admin = login(base, "pw")
        rule = {"name": "CPU above 50 %", "signal": "cpu_percent", "op": ">", "threshold": 50}
        assert (
            httpx.post(f"{base}/api/v1/alerts/rules", json=rule, headers=admin).status_code == 201
        )
        channel = {"name": "hook", "kind": "webhook", "config": {"url": hook.url}}
        made = httpx.post(f"{base}/api/v1/alerts/channels", json=channel, headers=admin)
        assert made.status_code == 201
        key = credentials(data_dir)["agent_api_key"]
        now = datetime.now(UTC)
        for host, cpu in (("db-1", 97.0), ("web-1", 93.0), ("web-2", 12.0)):
            feed(
                base,
                key,
                host,
                [full_snapshot(now - timedelta(seconds=s), cpu) for s in (20, 10, 0)],
            )

        def firing() -> list[dict[str, Any]]:
            alerts: list[dict[str, Any]] = httpx.get(f"{base}/api/v1/alerts", headers=admin).json()
            return alerts

        def count() -> int:
            return sum(a["state"] == "firing" for a in firing())

        wait_for(lambda: count() == 2, 30, "two hosts firing")
        hosts = {a["host_name"]: a["host_id"] for a in firing()}

        page = browser.new_context(viewport=VIEWPORT).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        page.wait_for_url("**/login?next=/")
        page.fill("#password", "pw")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        page.locator("#alerts li.firing").nth(1).wait_for()
        panel = page.locator("#alerts")
        # The ready-made "CPU above 90 %" (5 min) is pending on both: listed after the firing.
        assert panel.locator("h2").inner_text() == "2 firing, 2 pending"
        states = [
            c.split()[1] for c in panel.locator("li").evaluate_all("ls => ls.map(l => l.className)")
        ]
        assert states == ["firing", "firing", "pending", "pending"]
        texts = panel.locator("li").all_inner_texts()
        assert any("db-1" in t and "CPU above 50 %" in t for t in texts)
        assert not any("web-2" in t for t in texts)
        # Above the fleet's tiles and table: the first thing on the page.
        assert panel.bounding_box()["y"] < page.locator("#summary").bounding_box()["y"]
        _shot(page, shots, "alerts-overview.png")

        # The test-send button of a channel.
        page.click("#channels summary")
        page.locator("#channels li", has_text="hook").locator("button").click()
        page.locator("#channels li .result", has_text="sent").wait_for()
        names = [b["alerts"][0]["labels"]["alertname"] for b in hook.bodies()]
        assert names.count("fleetscope test") == 1
        _shot(page, shots, "alerts-channels.png")

        page.goto(f"{base}/hosts/{hosts['web-1']}")
        page.locator("#alerts li.firing").wait_for()
        own = page.locator("#alerts li").all_inner_texts()
        assert len(own) == 2 and "CPU above 50 %" in own[0] and "CPU above 90 %" in own[1]
        assert not any("db-1" in t for t in own)
        _shot(page, shots, "alerts-host.png")

        quiet = httpx.get(f"{base}/api/v1/hosts", headers=admin).json()
        web2 = next(h["id"] for h in quiet if h["name"] == "web-2")
        page.goto(f"{base}/hosts/{web2}")
        page.locator("#alerts.quiet").wait_for()
        assert "No alerts firing on this host" in page.locator("#alerts").inner_text()
        time.sleep(0.2)
        assert errors == []


def _shot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / name))
    extra = os.environ.get("SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(shots / name, Path(extra) / name)
