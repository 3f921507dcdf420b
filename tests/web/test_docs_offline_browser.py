"""/docs and /redoc load in Chromium with every request to anything but the server blocked:
Swagger UI and ReDoc come from web/static/vendor, never a CDN, and run under the CSP
(edge/headers.py) without a violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import free_port
from tests.processes import running, wait_ready
from tests.web.test_dashboard_browser import browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


def test_docs_and_redoc_load_with_the_network_blocked(tmp_path: Path, browser: Any) -> None:  # noqa: F811
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"FLEETSCOPE_ADMIN_PASSWORD": "pw-for-docs"}
    with running(["server", "--data-dir", str(data_dir), "--port", str(port)], data_dir, env) as up:
        wait_ready(base, up)
        for page_path in ("/docs", "/redoc"):
            html = httpx.get(base + page_path).text
            assert "cdn" not in html.lower() and "https://" not in html
        context = browser.new_context()
        blocked: list[str] = []
        problems: list[str] = []

        def guard(route: Any) -> None:
            if route.request.url.startswith(base + "/"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(base + "/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api/v1/ingest" in paths and "/api/v1/hosts/{host_id}" in paths, paths
        page.goto(base + "/redoc")
        page.get_by_text("Accept an agent payload batch").first.wait_for(
            state="attached", timeout=20_000
        )
        page.screenshot(path=str(tmp_path / "redoc.png"))
        assert not blocked, blocked
        assert not problems, problems
        context.close()
