"""The account routes (/api/v1/me, tenants, users, keys, audit) for every kind of caller, and
isolation between two tenants: an object of the other tenant by id is a 404, never its data.
On SQLite and PostgreSQL, against the real app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.accounts_support import PASSWORD, TwoTenants, bearer, login, make_key, two_tenants
from tests.server import LiveServer, start_server

CALLERS = ("superuser", "admin", "editor", "viewer", "read", "ingest", "nobody")


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


@pytest.fixture
def world(live: LiveServer) -> TwoTenants:
    return two_tenants(live)


def _headers(world: TwoTenants, caller: str) -> dict[str, str]:
    if caller == "superuser":
        return world.superuser
    if caller == "nobody":
        return {}
    return world.a.headers[caller]


_counter = iter(range(10**6))


def _unique() -> int:
    return next(_counter)


# (method, path, body maker, the callers allowed and their status); everyone else: 401 without
# credentials, 403 with them.
Body = Callable[[], dict[str, Any] | None]
USERS_READ = {"superuser", "admin", "editor", "viewer", "read"}
MATRIX: list[tuple[str, str, Body, dict[str, int]]] = [
    ("get", "/api/v1/me", lambda: None, dict.fromkeys(USERS_READ, 200)),
    ("get", "/api/v1/tenants", lambda: None, {"superuser": 200}),
    ("post", "/api/v1/tenants", lambda: {"name": f"t{_unique()}"}, {"superuser": 201}),
    ("get", "/api/v1/users", lambda: None, {"superuser": 200, "admin": 200}),
    (
        "post",
        "/api/v1/users",
        lambda: {"username": f"u{_unique()}", "password": PASSWORD, "role": "viewer"},
        {"superuser": 201, "admin": 201},
    ),
    ("get", "/api/v1/keys", lambda: None, {"superuser": 200, "admin": 200}),
    (
        "post",
        "/api/v1/keys",
        lambda: {"name": f"k{_unique()}", "scope": "read"},
        {"superuser": 201, "admin": 201},
    ),
    ("get", "/api/v1/audit", lambda: None, {"superuser": 200, "admin": 200}),
    ("get", "/api/v1/hosts", lambda: None, dict.fromkeys(USERS_READ, 200)),
    ("get", "/api/v1/alerts/rules", lambda: None, dict.fromkeys(USERS_READ, 200)),
    (
        "post",
        "/api/v1/alerts/rules",
        lambda: {"name": f"r{_unique()}", "signal": "cpu_percent", "op": ">", "threshold": 90},
        {"superuser": 201, "admin": 201},
    ),
    (  # passes the role check, then finds no such host
        "post",
        "/api/v1/analyses",
        lambda: {"host": "nope", "start": "0", "end": "60"},
        {"superuser": 404, "admin": 404, "editor": 404},
    ),
]


def test_every_route_for_every_caller(live: LiveServer, world: TwoTenants) -> None:
    tried = 0
    for method, path, body, allowed in MATRIX:
        for caller in CALLERS:
            made = body()
            answer = live.client.request(method, path, json=made, headers=_headers(world, caller))
            expected = allowed.get(caller, 401 if caller == "nobody" else 403)
            assert answer.status_code == expected, (method, path, caller, answer.text)
            tried += 1
    print(f"{tried} route x caller pairs tried")  # the issue asks for the count


def test_me_says_who_calls(live: LiveServer, world: TwoTenants) -> None:
    me = live.client.get("/api/v1/me", headers=world.superuser).json()
    assert me["kind"] == "user" and me["name"] == "admin" and me["superuser"] is True
    assert me["role"] == "admin" and me["tenant_name"] == "default"
    viewer = live.client.get("/api/v1/me", headers=world.b.headers["viewer"]).json()
    assert viewer["role"] == "viewer" and viewer["superuser"] is False
    assert (viewer["tenant_id"], viewer["tenant_name"]) == (world.b.id, "tenant b")
    key = live.client.get("/api/v1/me", headers=world.a.headers["read"]).json()
    assert key["kind"] == "key" and key["scope"] == "read" and key["role"] is None


def test_the_other_tenants_objects_are_404_for_every_role(
    live: LiveServer, world: TwoTenants
) -> None:
    for mine, theirs, their_prefix in ((world.a, world.b, "b"), (world.b, world.a, "a")):
        admin = mine.headers["admin"]
        user_id, key_id = theirs.user_ids["viewer"], theirs.key_ids["ingest"]
        for method, path, body in (
            ("get", f"/api/v1/users/{user_id}", None),
            ("patch", f"/api/v1/users/{user_id}", {"role": "admin"}),
            ("patch", f"/api/v1/users/{user_id}", {"disabled": True}),
            ("post", f"/api/v1/users/{user_id}/password", {"password": "x" * 12}),
            ("delete", f"/api/v1/keys/{key_id}", None),
            ("get", f"/api/v1/audit?tenant_id={theirs.id}", None),
            (
                "post",
                "/api/v1/users",
                {
                    "username": "intruder",
                    "password": PASSWORD,
                    "role": "admin",
                    "tenant_id": theirs.id,
                },
            ),
        ):
            answer = live.client.request(method, path, json=body, headers=admin)
            assert answer.status_code == 404, (method, path, answer.text)
            assert f"{their_prefix}-" not in answer.text  # none of their names
        listed = live.client.get("/api/v1/users", headers=admin).json()
        assert {u["tenant_id"] for u in listed} == {mine.id}
        keys = live.client.get("/api/v1/keys", headers=admin).json()
        assert key_id not in {k["id"] for k in keys}
        audit = live.client.get("/api/v1/audit", headers=admin).json()["entries"]
        assert audit
        assert not [e for e in audit if e["object"].startswith(f"user:{their_prefix}-")]
        for caller in ("admin", "editor", "viewer", "read"):
            headers = mine.headers[caller]
            hosts = live.client.get("/api/v1/hosts", headers=headers).json()
            assert [h["id"] for h in hosts] == [mine.host_id], caller
            answer = live.client.get(f"/api/v1/hosts/{theirs.host_id}", headers=headers)
            assert answer.status_code == 404, caller
    # The viewer of B was not touched by A's attempts.
    b_viewer = live.client.get(
        f"/api/v1/users/{world.b.user_ids['viewer']}", headers=world.b.headers["admin"]
    )
    assert b_viewer.json()["role"] == "viewer" and b_viewer.json()["disabled"] is False


def test_superuser_manages_tenants_and_first_admins(live: LiveServer, world: TwoTenants) -> None:
    su = world.superuser
    assert {t["name"] for t in live.client.get("/api/v1/tenants", headers=su).json()} >= {
        "default",
        "tenant b",
    }
    taken = live.client.post("/api/v1/tenants", json={"name": "tenant b"}, headers=su)
    assert taken.status_code == 409
    renamed = live.client.patch(f"/api/v1/tenants/{world.b.id}", json={"name": "bee"}, headers=su)
    assert renamed.status_code == 200 and renamed.json()["name"] == "bee"
    own = live.client.patch(f"/api/v1/tenants/{world.a.id}", json={"active": False}, headers=su)
    assert own.status_code == 409
    assert live.client.get("/api/v1/tenants/999999", headers=su).status_code == 404
    # B has an admin: its admins add users, not the superuser.
    second = {
        "username": "b-admin2",
        "password": PASSWORD,
        "role": "admin",
        "tenant_id": world.b.id,
    }
    assert live.client.post("/api/v1/users", json=second, headers=su).status_code == 409
    fresh = live.client.post("/api/v1/tenants", json={"name": "c"}, headers=su).json()["id"]
    viewer = {"username": "c-viewer", "password": PASSWORD, "role": "viewer", "tenant_id": fresh}
    assert live.client.post("/api/v1/users", json=viewer, headers=su).status_code == 422
    first = {**viewer, "username": "c-admin", "role": "admin"}
    made = live.client.post("/api/v1/users", json=first, headers=su)
    assert made.status_code == 201 and made.json()["tenant_id"] == fresh
    # The superuser reads another tenant's audit log; their own users list stays their own.
    log = live.client.get(f"/api/v1/audit?tenant_id={fresh}", headers=su).json()["entries"]
    assert {e["action"] for e in log} == {"tenant.created", "user.created"}
    assert all(
        u["tenant_id"] == world.a.id for u in live.client.get("/api/v1/users", headers=su).json()
    )


def test_users_role_disable_reset_and_their_guards(live: LiveServer, world: TwoTenants) -> None:
    admin, ids = world.a.headers["admin"], world.a.user_ids
    promoted = live.client.patch(
        f"/api/v1/users/{ids['viewer']}", json={"role": "editor"}, headers=admin
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "editor"
    assert (
        live.client.get("/api/v1/me", headers=world.a.headers["viewer"]).json()["role"] == "editor"
    )
    # An admin changes neither their own role nor their own flag, nor resets their own password.
    me = ids["admin"]
    for body in ({"role": "viewer"}, {"disabled": True}):
        assert live.client.patch(f"/api/v1/users/{me}", json=body, headers=admin).status_code == 409
    reset_self = live.client.post(
        f"/api/v1/users/{me}/password", json={"password": "x" * 12}, headers=admin
    )
    assert reset_self.status_code == 409
    # B's only admin cannot be demoted (by the superuser's own tenant it is unreachable: 404).
    b_admin = world.b.user_ids["admin"]
    assert (
        live.client.patch(
            f"/api/v1/users/{b_admin}", json={"role": "viewer"}, headers=world.superuser
        ).status_code
        == 404
    )
    editor = ids["editor"]
    reset = live.client.post(
        f"/api/v1/users/{editor}/password", json={"password": "new password 1"}, headers=admin
    )
    assert reset.status_code == 204
    assert live.client.get("/api/v1/me", headers=world.a.headers["editor"]).status_code == 401
    login(live, "a-editor", "new password 1")
    short = live.client.post(
        f"/api/v1/users/{editor}/password", json={"password": "short"}, headers=admin
    )
    assert short.status_code == 422
    taken = live.client.post(
        "/api/v1/users",
        json={"username": "b-viewer", "password": PASSWORD, "role": "viewer"},
        headers=admin,
    )
    assert taken.status_code == 409  # usernames are unique server-wide


def test_keys_are_shown_once_listed_without_secret_and_revoked(
    live: LiveServer, world: TwoTenants
) -> None:
    admin = world.a.headers["admin"]
    made = live.client.post(
        "/api/v1/keys",
        json={
            "name": "laptop",
            "scope": "ingest",
            "machine_id": "m-laptop",
            "expires_at": "2999-01-01T00:00:00Z",
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    secret = body["key"]
    assert body["machine_id"] == "m-laptop" and body["created_by"] == "a-admin"
    assert body["expires_at"].startswith("2999-01-01") and body["revoked_at"] is None
    listed = live.client.get("/api/v1/keys", headers=admin)
    assert secret not in listed.text and "key" not in listed.json()[0]
    row = next(k for k in listed.json() if k["id"] == body["id"])
    assert row["prefix"] == secret[:10] and row["scope"] == "ingest"
    read = next(k for k in listed.json() if k["id"] == world.a.key_ids["read"])
    assert read["last_used"] is None  # never used yet
    live.client.get("/api/v1/hosts", headers=world.a.headers["read"])
    used = {k["id"]: k for k in live.client.get("/api/v1/keys", headers=admin).json()}
    assert used[world.a.key_ids["read"]]["last_used"] is not None
    for bad in (
        {"name": "x", "scope": "read", "machine_id": "m-1"},
        {"name": "x", "scope": "read", "expires_at": "2001-01-01T00:00:00Z"},
        {"name": " ", "scope": "read"},
        {"name": "x", "scope": "admin"},
    ):
        assert live.client.post("/api/v1/keys", json=bad, headers=admin).status_code == 422, bad
    gone = live.client.delete(f"/api/v1/keys/{body['id']}", headers=admin)
    assert gone.status_code == 204
    again = live.client.delete(f"/api/v1/keys/{body['id']}", headers=admin)
    assert again.status_code == 204  # already revoked: nothing more to do
    revoked = {k["id"]: k for k in live.client.get("/api/v1/keys", headers=admin).json()}
    assert revoked[body["id"]]["revoked_at"] is not None
    assert live.client.delete("/api/v1/keys/999999", headers=admin).status_code == 404
    # Two read keys live at once: rotate without a gap.
    _new_id, new_key = make_key(live, admin, "grafana 2", "read")
    assert live.client.get("/api/v1/hosts", headers=bearer(new_key)).status_code == 200
    assert live.client.get("/api/v1/hosts", headers=world.a.headers["read"]).status_code == 200


def test_every_change_is_in_the_audit_log_paged(live: LiveServer, world: TwoTenants) -> None:
    admin = world.a.headers["admin"]
    live.client.patch(
        f"/api/v1/users/{world.a.user_ids['viewer']}", json={"disabled": True}, headers=admin
    )
    live.client.patch(
        f"/api/v1/users/{world.a.user_ids['viewer']}", json={"disabled": False}, headers=admin
    )
    live.client.patch(
        f"/api/v1/users/{world.a.user_ids['editor']}", json={"role": "viewer"}, headers=admin
    )
    live.client.delete(f"/api/v1/keys/{world.a.key_ids['read']}", headers=admin)
    entries = live.client.get("/api/v1/audit?limit=1000", headers=admin).json()["entries"]
    actions = [e["action"] for e in entries]
    for action in (
        "user.created",
        "login.succeeded",
        "key.created",
        "key.revoked",
        "user.disabled",
        "user.enabled",
        "user.role_changed",
    ):
        assert action in actions, action
    revoked = next(e for e in entries if e["action"] == "key.revoked")
    assert revoked["actor"] == "a-admin" and revoked["object"] == "key:a read"
    assert revoked["detail"]["id"] == world.a.key_ids["read"] and revoked["address"]
    role = next(e for e in entries if e["action"] == "user.role_changed")
    assert role["detail"] == {"before": "editor", "after": "viewer"}
    assert all("key" not in e["detail"] or len(str(e["detail"]["key"])) < 12 for e in entries)
    # Paged, newest first, and filtered.
    first = live.client.get("/api/v1/audit?limit=2", headers=admin).json()
    assert [e["id"] for e in first["entries"]] == [entries[0]["id"], entries[1]["id"]]
    following = live.client.get(
        f"/api/v1/audit?limit=2&before_id={first['next_before_id']}", headers=admin
    ).json()
    assert following["entries"][0]["id"] == entries[2]["id"]
    only = live.client.get("/api/v1/audit?action=key.created", headers=admin).json()["entries"]
    assert only and {e["action"] for e in only} == {"key.created"}
    by = live.client.get("/api/v1/audit?actor=a-admin", headers=admin).json()["entries"]
    assert by and {e["actor"] for e in by} == {"a-admin"}
    assert live.client.get("/api/v1/audit?action=nope", headers=admin).status_code == 422
