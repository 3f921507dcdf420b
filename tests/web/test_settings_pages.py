"""The settings pages as the server serves them (issue 12's dashboard part), without a browser:
each section is the same static shell behind the session (a page without one redirects to
/login), an unknown section is a 404, and the shell and its scripts fit the CSP (no inline
script, nothing from another origin). tests/web/test_settings_browser.py drives them in
Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetscope.web.pages import SETTINGS_SECTIONS, STATIC_DIR
from tests.server import LiveServer, start_server


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data")


def test_each_section_is_the_shell_behind_the_session(live: LiveServer) -> None:
    admin = live.user_headers()
    live.client.cookies.clear()  # the login set the session cookie too
    for path in ["/settings", *(f"/settings/{s}" for s in sorted(SETTINGS_SECTIONS))]:
        anonymous = live.client.get(path, follow_redirects=False)
        assert anonymous.status_code == 303, path
        assert anonymous.headers["location"] == f"/login?next={path}"
        page = live.client.get(path, headers=admin)
        assert page.status_code == 200, path
        assert '<main class="settings">' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    unknown = live.client.get("/settings/nothing", headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no settings page 'nothing'"


def test_the_shell_has_a_section_per_name_and_only_local_scripts(live: LiveServer) -> None:
    html = (STATIC_DIR / "settings.html").read_text()
    sections = set(re.findall(r'<section id="sec-([a-z]+)" data-section="\1" hidden>', html))
    assert sections == SETTINGS_SECTIONS
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, "no script at all"
    for attributes, body in scripts:
        assert body.strip() == "", "an inline script: the CSP refuses it"
        source = re.search(r'src="([^"]+)"', attributes)
        assert source and source.group(1).startswith("/static/"), attributes
        assert live.client.get(source.group(1)).status_code == 200
    for name in ("settings.js", "settings-accounts.js", "settings-collectors.js", "app.js"):
        text = (STATIC_DIR / name).read_text()
        assert "eval(" not in text and "new Function" not in text, name
        assert not re.search(r"\bon[a-z]+=\"", text), f"{name}: an inline event handler"
