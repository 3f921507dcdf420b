"""The settings pages in Debian's chromium (playwright), against a real `fleetscope server`
(issue 12's dashboard part): the header names the user, role and tenant on every page; the
admin creates users and an API key (shown once, copied, only its prefix after a reload) and
revokes it; an editor edits a collector and it persists; a viewer sees no admin control and
asks for no data they may not read; the superuser creates and renames a tenant; refusals from
the API are shown in the page. Screenshots of each section go to tmp_path (and SCREENSHOT_DIR
when set: docs/screenshots/settings-*.png come from there)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import wait_true
from tests.helpers import free_port
from tests.perfcollector_capture import capture
from tests.processes import credentials, running, wait_ready
from tests.web.test_dashboard_browser import VIEWPORT, browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "pw-for-settings"
PASSWORD = "a long enough password 1"
# Chromium logs every 4xx answer as a console error; the page shows those itself.
REFUSAL_LOG = "Failed to load resource: the server responded with a status of 4"


class Browser:
    """One signed-in user's browser context, recording errors and the API paths asked for."""

    def __init__(self, chromium: Any, base: str, shots: Path) -> None:
        self.base, self.shots = base, shots
        self.context = chromium.new_context(viewport=VIEWPORT)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.asked: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.asked.append(r.method + " " + r.url))

    def _console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith(REFUSAL_LOG):
            self.errors.append(message.text)

    def login(self, username: str, password: str, path: str) -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_url(f"**/login?next={path}")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base + path)
        self.loaded(path.rsplit("/", 1)[-1])

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.loaded(path.rsplit("/", 1)[-1])

    def loaded(self, section: str) -> None:
        if section in ("users", "keys", "collectors", "tenants", "audit", "account"):
            wait_true(self.page, "s => document.body.dataset.loaded === s", section)

    def who(self) -> str:
        return str(wait_true(self.page, "() => document.getElementById('who').textContent.trim()"))

    def nav(self) -> list[str]:
        return list(self.page.locator("#settings-nav a").all_inner_texts())

    def error(self) -> str:
        return str(
            wait_true(self.page, "() => document.getElementById('settings-error').textContent")
        )

    def note(self, element_id: str, pattern: str) -> None:
        """Wait until the element's text matches the regular expression."""
        wait_true(
            self.page,
            "([id, p]) => new RegExp(p).test(document.getElementById(id).textContent)",
            [element_id, pattern],
        )

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / name), full_page=True)


def _api(base: str, username: str, password: str) -> httpx.Client:
    token = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": username, "password": password}
    ).json()["token"]
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})


def _upload(base: str, key: str, machine_id: str) -> bytes:
    data = capture()
    sent = httpx.post(
        f"{base}/v1/upload",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("capture.json", data, "application/octet-stream")},
        data={"machine_id": machine_id},
    )
    assert sent.status_code == 200, sent.text
    return data


def _collector_with_file(api: httpx.Client, machine_id: str) -> dict[str, Any]:
    """The collector an upload registered, once digest has kept its file."""
    deadline = time.monotonic() + 60
    while True:
        found = [c for c in api.get("/api/v1/collectors").json() if c["machine_id"] == machine_id]
        if found and api.get(found[0]["files"]).json():
            return dict(found[0])
        assert time.monotonic() < deadline, f"no collector {machine_id} with a file"
        time.sleep(0.2)


def test_settings_pages_in_chromium(tmp_path: Path, browser: Any) -> None:  # noqa: F811
    shots = tmp_path / "screenshots"
    shots.mkdir()
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"FLEETSCOPE_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with running(["server", "--data-dir", str(data_dir), "--port", str(port)], data_dir, env) as up:
        wait_ready(base, up, timeout=120)  # on a loaded 2-core machine, start-up is slow
        uploaded = _upload(base, credentials(data_dir)["agent_api_key"], "pc-7")
        api = _api(base, "admin", ADMIN_PASSWORD)
        pc7 = _collector_with_file(api, "pc-7")
        for made in (
            {"machine": "db-1", "site": "lab", "platform": "Linux", "chip_maker": "AMD",
             "cpu_model": "EPYC 7443P", "cores": 24, "memory_bytes": 128 * 2**30, "owner": "ops"},
            {"machine": "mac-mini-3", "site": "studio", "platform": "macOS", "chip_maker": "Apple",
             "cpu_model": "M2", "cores": 8, "memory_bytes": 16 * 2**30, "owner": "design"},
        ):  # fmt: skip
            assert api.post("/api/v1/collectors", json=made).status_code == 201

        # ---- The admin (the default tenant's, also the superuser) ----
        admin = Browser(browser, base, shots)
        admin.login("admin", ADMIN_PASSWORD, "/settings/users")
        assert admin.who() == "admin admin · superuser default"
        assert admin.nav() == [
            "Your account", "Users", "API keys", "Collectors", "Tenants", "Audit log",
        ]  # fmt: skip
        page = admin.page
        for name, role in (("erin", "editor"), ("vic", "viewer"), ("tom", "viewer")):
            page.fill("#user-name", name)
            page.fill("#user-password", PASSWORD)
            page.select_option("#user-role", role)
            page.click("#user-form button[type=submit]")
            page.locator("#users tbody tr", has_text=name).wait_for()
        # A refusal is shown: the same username again.
        page.fill("#user-name", "erin")
        page.fill("#user-password", PASSWORD)
        page.click("#user-form button[type=submit]")
        assert "Conflict" in admin.error() and "erin" in admin.error()
        # tom: promoted, disabled, given a new password, each kept by the server.
        tom = page.locator("#users tbody tr[data-username=tom]")
        tom.locator("select[data-field=role]").select_option("editor")
        admin.note("users-message", "is now editor")
        page.locator("#users tbody tr[data-username=tom]").locator(
            "button[data-act=toggle]"
        ).click()
        page.locator("#users tbody tr[data-username=tom]").locator(".tag.off").wait_for()
        tom = page.locator("#users tbody tr[data-username=tom]")
        tom.locator("button[data-act=reset]").click()
        tom.locator(".reset input").fill("another password 2")
        tom.locator("button[data-act=set-password]").click()
        admin.note("users-message", "sessions ended")
        [saved] = [u for u in api.get("/api/v1/users").json() if u["username"] == "tom"]
        assert saved["role"] == "editor" and saved["disabled"] and saved["password_changed"]
        # The admin's own row has no controls (they may not demote or disable themselves).
        mine = page.locator("#users tbody tr[data-username=admin]")
        assert mine.locator("select, button").count() == 0
        admin.shot("settings-users.png")

        # API keys: the new key once, copied; after a reload only its prefix; revoked.
        admin.open("/settings/keys")
        page.fill("#key-name", "laptop")
        page.fill("#key-machine", "pc-9")
        page.click("#key-form button[type=submit]")
        page.locator("#new-key:not([hidden])").wait_for()
        key = page.inner_text("#new-key-value")
        assert key.startswith("fsk_") and len(key) == 47
        assert "You will not see it again" in page.inner_text("#new-key")
        page.click("#new-key-copy")
        copied = str(wait_true(page, "() => document.getElementById('new-key-copied').textContent"))
        in_clipboard = page.evaluate("() => navigator.clipboard.readText().catch(() => '')")
        selected = page.evaluate("() => window.getSelection().toString()")
        assert (copied == "Copied to the clipboard." and in_clipboard == key) or (
            copied.startswith("Selected") and selected == key
        ), (copied, selected)
        row = page.locator("#keys tbody tr", has_text="laptop")
        assert "pc-9" in row.inner_text() and "ingest" in row.inner_text()
        admin.shot("settings-keys.png")
        admin.open("/settings/keys")
        assert key not in page.content()
        row = page.locator("#keys tbody tr", has_text="laptop")
        assert key[:10] + "…" in row.inner_text()
        revoke = row.locator("button[data-act=revoke]")
        revoke.click()
        assert revoke.inner_text() == "Revoke: sure?"
        revoke.click()
        page.locator("#keys tbody tr", has_text="laptop").locator(".tag.off").wait_for()
        [laptop] = [k for k in api.get("/api/v1/keys").json() if k["name"] == "laptop"]
        assert laptop["revoked_at"] is not None
        assert (
            httpx.get(
                f"{base}/api/v1/hosts", headers={"Authorization": f"Bearer {key}"}
            ).status_code
            == 401
        )

        # Tenants: create, rename, a first admin; a taken name is refused in the page.
        admin.open("/settings/tenants")
        page.fill("#tenant-name", "acme")
        page.click("#tenant-form button[type=submit]")
        acme = page.locator("#tenants tbody tr", has=page.locator("input[value=acme]"))
        acme.wait_for()
        acme.locator("input.rename").fill("acme corp")
        acme.locator("button[data-act=rename]").click()
        admin.note("tenants-message", "Renamed to acme corp")
        assert {t["name"] for t in api.get("/api/v1/tenants").json()} == {"default", "acme corp"}
        page.fill("#fa-name", "ann")
        page.fill("#fa-password", PASSWORD)
        page.click("#first-admin-form button[type=submit]")
        admin.note("tenants-message", "ann is the admin of acme corp")
        page.fill("#tenant-name", "default")
        page.click("#tenant-form button[type=submit]")
        assert "Conflict" in admin.error()
        admin.shot("settings-tenants.png")
        with _api(base, "ann", PASSWORD) as ann:
            assert ann.get("/api/v1/me").json()["tenant_name"] == "acme corp"

        # The audit log, newest first, paged by 50: enough changes for two pages.
        admin.open("/settings/audit")
        assert page.locator("#audit tbody tr", has_text="key.revoked").count() == 1
        admin.shot("settings-audit.png")
        for n in range(50):
            api.patch(f"/api/v1/collectors/{pc7['id']}", json={"owner": f"owner {n}"})
        admin.open("/settings/audit")
        first = page.locator("#audit tbody tr").first.inner_text()
        assert "collector.updated" in first and "owner 49" in first
        assert page.locator("#audit tbody tr").count() == 50
        page.click("#audit-more")
        wait_true(page, "() => document.querySelectorAll('#audit tbody tr').length > 50")
        assert page.locator("#audit tbody tr", has_text="user.created").count() >= 3

        # Collectors as the admin: the upload's file with its result and download link.
        admin.open("/settings/collectors")
        row = page.locator("#collectors tbody tr", has_text="pc-7")
        row.locator("button[data-act=files]").click()
        page.locator("#files tbody tr a[download]").wait_for()
        assert "ingested" in page.inner_text("#files tbody") or "accepted" in page.inner_text(
            "#files tbody"
        )
        link = page.get_attribute("#files tbody tr a[download]", "href")
        assert link and api.get(link).content == uploaded
        admin.shot("settings-collectors.png")

        # On a phone the page does not scroll sideways: wide tables scroll in their box.
        page.set_viewport_size({"width": 390, "height": 800})
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        page.set_viewport_size(VIEWPORT)

        # The header on the other pages.
        host = api.get("/api/v1/hosts").json()[0]["id"]
        for path in ("/", "/analyses", f"/hosts/{host}"):
            page.goto(base + path)
            assert admin.who() == "admin admin · superuser default"
            assert page.locator("#top a[href='/settings']").count() == 1
        assert admin.errors == []

        # ---- The editor: edits a collector; no admin section ----
        editor = Browser(browser, base, shots)
        editor.login("erin", PASSWORD, "/settings/collectors")
        assert editor.who() == "erin editor default"
        assert editor.nav() == ["Your account", "Collectors"]
        page = editor.page
        page.locator("#collectors tbody tr", has_text="pc-7").locator(
            "button[data-act=edit]"
        ).click()
        page.fill("#co-site", "lab-2")
        page.fill("#co-owner", "erin's team")
        page.click("#collector-form button[type=submit]")
        editor.note("collectors-message", "saved")
        editor.open("/settings/collectors")
        row = page.locator("#collectors tbody tr", has_text="pc-7")
        assert row.locator("td.site").inner_text() == "lab-2"
        assert row.locator("td.owner").inner_text() == "erin's team"
        [kept] = [c for c in api.get("/api/v1/collectors").json() if c["id"] == pc7["id"]]
        assert (kept["site"], kept["owner"]) == ("lab-2", "erin's team")
        assert editor.errors == []

        # ---- The viewer: read only, and asks for nothing an admin's ----
        viewer = Browser(browser, base, shots)
        viewer.login("vic", PASSWORD, "/settings/collectors")
        assert viewer.who() == "vic viewer default"
        assert viewer.nav() == ["Your account", "Collectors"]
        page = viewer.page
        page.locator("#collectors tbody tr", has_text="pc-7").wait_for()
        assert (
            page.locator(
                "#collectors button[data-act=edit], #collector-add, #collector-form"
            ).count()
            == 0
        )
        page.locator("#collectors tbody tr", has_text="pc-7").locator(
            "button[data-act=files]"
        ).click()
        page.locator("#files tbody tr a[download]").wait_for()
        viewer.shot("settings-viewer-collectors.png")
        for section in ("users", "keys", "tenants", "audit"):
            page.goto(f"{base}/settings/{section}")
            assert "may not use these settings" in viewer.error()
            assert page.locator(f"#sec-{section}").is_hidden()
        asked = [a for a in viewer.asked if "/api/v1/" in a]
        assert not [
            a
            for a in asked
            if any(f"/api/v1/{p}" in a for p in ("users", "keys", "tenants", "audit"))
        ], asked
        refused = viewer.context.request.get(f"{base}/api/v1/users")
        assert refused.status == 403
        # Their own password: a wrong current one is shown, then the change.
        viewer.open("/settings/account")
        page.fill("#pw-current", "wrong password")
        page.fill("#pw-new", "vic's new password")
        page.fill("#pw-again", "vic's new password")
        page.click("#password-form button[type=submit]")
        assert "current_password is wrong" in viewer.error()
        page.fill("#pw-current", PASSWORD)
        page.fill("#pw-new", "vic's new password")
        page.fill("#pw-again", "vic's new password")
        page.click("#password-form button[type=submit]")
        wait_true(
            page,
            "() => document.getElementById('password-message').textContent === 'Password changed.'",
        )
        assert viewer.errors == []
        api.close()
    extra = os.environ.get("SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, Path(extra) / shot.name)
