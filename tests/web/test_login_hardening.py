"""Login hardening that came with accounts (issue 12): throttling per user and per address
(429 with Retry-After, bounded, so no lasting lockout), disabled users and deactivated tenants
refused, sessions ended on logout and on a change of password, and the audit entries of it
all. On SQLite and PostgreSQL, against the real app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.accounts_support import PASSWORD, bearer, login, make_key, make_user
from tests.helpers import payload, payload_json
from tests.server import LiveServer, start_server


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def _login(live: LiveServer, username: str, password: str) -> httpx.Response:
    answer = live.client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    live.client.cookies.clear()
    return answer


def _audit(live: LiveServer, headers: dict[str, str]) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = live.client.get(
        "/api/v1/audit?limit=1000", headers=headers
    ).json()["entries"]
    return entries


def test_failed_logins_are_throttled_with_retry_after_and_then_let_through(
    live: LiveServer,
) -> None:
    admin = live.user_headers()
    live.client.cookies.clear()
    make_user(live, admin, "victim", "viewer")
    statuses = []
    # Five free failures, then a wait that doubles with each failure made after it ends
    # (store/throttle.py USER_POLICY): a slow machine sees its first 429 a little later.
    for _ in range(12):
        answer = _login(live, "victim", "wrong guess")
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            break
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429, statuses
    wait = int(answer.headers["Retry-After"])
    assert 1 <= wait <= 60  # the per-user bound: nobody locks the owner out for longer
    assert answer.headers["content-type"] == "application/problem+json"
    # While throttled, even the right password is refused without being checked.
    assert _login(live, "victim", PASSWORD).status_code == 429
    time.sleep(wait + 0.2)
    assert _login(live, "victim", PASSWORD).status_code == 200
    # A success starts the username's count afresh.
    assert _login(live, "victim", "wrong again").status_code == 401
    actions = [e["action"] for e in _audit(live, admin) if e["object"] == "user:victim"]
    assert {"login.failed", "login.throttled", "login.succeeded"} <= set(actions)
    assert actions.count("login.failed") >= 6


def test_unknown_users_count_per_address(live: LiveServer) -> None:
    # ADDRESS_POLICY allows 20 free failures from one address, whatever usernames it tries.
    statuses = [_login(live, f"nobody-{i}", "x").status_code for i in range(30)]
    assert statuses[:20] == [401] * 20 and 429 in statuses, statuses


def test_disabled_users_and_deactivated_tenants_are_refused(live: LiveServer) -> None:
    admin = live.user_headers()
    live.client.cookies.clear()
    user_id = make_user(live, admin, "temp", "editor")
    session = login(live, "temp")
    assert live.client.patch(
        f"/api/v1/users/{user_id}", json={"disabled": True}, headers=admin
    ).json()["disabled"]
    assert live.client.get("/api/v1/me", headers=session).status_code == 401
    assert _login(live, "temp", PASSWORD).status_code == 401
    live.client.patch(f"/api/v1/users/{user_id}", json={"disabled": False}, headers=admin)
    assert _login(live, "temp", PASSWORD).status_code == 200

    tenant = live.client.post("/api/v1/tenants", json={"name": "other"}, headers=admin).json()
    make_user(live, admin, "other-admin", "admin", tenant_id=tenant["id"])
    other = login(live, "other-admin")
    _key_id, key = make_key(live, other, "never used", "ingest")
    _read_id, read_key = make_key(live, other, "reader", "read")
    off = live.client.patch(
        f"/api/v1/tenants/{tenant['id']}", json={"active": False}, headers=admin
    )
    assert off.status_code == 200 and off.json()["active"] is False
    assert live.client.get("/api/v1/me", headers=other).status_code == 401
    assert _login(live, "other-admin", PASSWORD).status_code == 401
    assert live.client.get("/api/v1/hosts", headers=bearer(read_key)).status_code == 401
    sent = live.client.post(
        "/api/v1/ingest",
        content=payload_json(payload()),
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert sent.status_code == 401
    live.client.patch(f"/api/v1/tenants/{tenant['id']}", json={"active": True}, headers=admin)
    assert _login(live, "other-admin", PASSWORD).status_code == 200
    actions = [e["action"] for e in _audit(live, admin)]
    assert "user.disabled" in actions and "user.enabled" in actions
    theirs = live.client.get(f"/api/v1/audit?tenant_id={tenant['id']}", headers=admin).json()
    assert {"tenant.deactivated", "tenant.activated"} <= {e["action"] for e in theirs["entries"]}


def test_logout_ends_the_session(live: LiveServer) -> None:
    admin = live.user_headers()
    live.client.cookies.clear()
    make_user(live, admin, "leaver", "viewer")
    session = login(live, "leaver")
    assert live.client.post("/api/v1/auth/logout", headers=session).status_code == 204
    assert live.client.get("/api/v1/me", headers=session).status_code == 401
    entries = _audit(live, admin)
    assert any(e["action"] == "logout" and e["actor"] == "leaver" for e in entries)


def test_a_password_change_ends_the_other_sessions(live: LiveServer) -> None:
    admin = live.user_headers()
    live.client.cookies.clear()
    make_user(live, admin, "changer", "viewer")
    here, elsewhere = login(live, "changer"), login(live, "changer")
    wrong = live.client.post(
        "/api/v1/me/password",
        json={"current_password": "not it", "new_password": "a brand new password"},
        headers=here,
    )
    assert wrong.status_code == 400
    assert live.client.get("/api/v1/me", headers=elsewhere).status_code == 200
    changed = live.client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new password"},
        headers=here,
    )
    assert changed.status_code == 204, changed.text
    assert live.client.get("/api/v1/me", headers=here).status_code == 200
    assert live.client.get("/api/v1/me", headers=elsewhere).status_code == 401
    assert _login(live, "changer", PASSWORD).status_code == 401
    assert _login(live, "changer", "a brand new password").status_code == 200
    assert any(
        e["action"] == "user.password_changed" and e["actor"] == "changer"
        for e in _audit(live, admin)
    )
    # A read key has no password to change.
    _id, key = make_key(live, admin, "reader", "read")
    refused = live.client.post(
        "/api/v1/me/password",
        json={"current_password": "x", "new_password": "y" * 10},
        headers=bearer(key),
    )
    assert refused.status_code == 403


def test_guessing_the_current_password_is_throttled(live: LiveServer) -> None:
    admin = live.user_headers()
    live.client.cookies.clear()
    make_user(live, admin, "guessed", "viewer")
    stolen = login(live, "guessed")
    statuses = []
    for _ in range(12):
        answer = live.client.post(
            "/api/v1/me/password",
            json={"current_password": "guess", "new_password": "taken over!"},
            headers=stolen,
        )
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            break
    assert statuses[:5] == [400] * 5 and statuses[-1] == 429, statuses
    assert int(answer.headers["Retry-After"]) >= 1
