"""`fleetscope admin tenants|users|keys|collectors --server --token` against the real app
(tests/server.py: the whole server in process, on SQLite), reached through an httpx client on
the app that the command is handed instead of the network: every command, what it changes as
the server then answers it, and the server's refusals printed with exit code 1."""

from __future__ import annotations

import json
from typing import Any

import httpx
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fleetscope.cli.main import app
from tests.server import ADMIN_PASSWORD, LiveServer

URL = "http://testserver"


def _token(live: LiveServer, username: str, password: str) -> str | None:
    answer = live.client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    live.client.cookies.clear()
    return str(answer.json()["token"]) if answer.status_code == 200 else None


class Admin:
    """Runs `fleetscope admin ...` with a user's token against the live app."""

    def __init__(self, live: LiveServer, token: str) -> None:
        self.live = live
        self.token = token

    def client(self, base_url: str, token: str) -> httpx.Client:
        assert base_url == URL
        return TestClient(
            self.live.server.app, base_url=base_url, headers={"Authorization": f"Bearer {token}"}
        )

    def run(self, *words: str) -> Result:
        return CliRunner().invoke(
            app, ["admin", *words, "--server", URL, "--token", self.token], obj=self.client
        )

    def json(self, *words: str) -> Any:
        result = self.run(*words, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


def test_tenants_users_and_keys_against_the_server(live: LiveServer) -> None:
    token = _token(live, "admin", ADMIN_PASSWORD)
    assert token is not None
    root = Admin(live, token)  # the first start's admin is the superuser

    acme = root.json("tenants", "create", "acme")
    assert acme["name"] == "acme" and acme["active"] is True
    assert [t["name"] for t in root.json("tenants", "list")] == ["default", "acme"]
    assert root.json("tenants", "update", "acme", "--name", "acme-eu")["name"] == "acme-eu"
    eve = root.json("users", "create", "eve", "--tenant", "acme-eu", "--role", "admin")
    assert eve["tenant_id"] == acme["id"]
    assert _token(live, "eve", eve["password"]) is not None
    assert root.json("tenants", "deactivate", "acme-eu")["active"] is False
    assert _token(live, "eve", eve["password"]) is None  # logins refused
    assert root.json("tenants", "activate", str(acme["id"]))["active"] is True
    table = root.run("tenants", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "ACTIVE", "CREATED"]
    assert table[2].split()[:3] == [str(acme["id"]), "acme-eu", "yes"]

    bob = root.json("users", "create", "bob", "--role", "editor", "--password", "pw of bob!")
    assert (bob["role"], bob["disabled"]) == ("editor", False) and "password" not in bob
    assert [u["username"] for u in root.json("users", "list")] == ["admin", "bob"]
    changed = root.json("users", "update", "bob", "--role", "viewer", "--disable")
    assert (changed["role"], changed["disabled"]) == ("viewer", True)
    assert _token(live, "bob", "pw of bob!") is None
    assert root.json("users", "update", "bob", "--enable")["disabled"] is False
    reset = root.json("users", "update", "bob", "--reset-password")
    assert _token(live, "bob", "pw of bob!") is None
    assert _token(live, "bob", reset["password"]) is not None

    made = root.run("keys", "create", "laptop", "--machine-id", "m-1", "--expires-days", "3")
    assert made.exit_code == 0, made.output
    secret = made.stdout.splitlines()[-2].removeprefix("key: ")
    assert secret.startswith("fsk_") and made.stdout.count(secret) == 1
    keys = root.json("keys", "list")
    laptop = next(k for k in keys if k["name"] == "laptop")
    assert laptop["machine_id"] == "m-1" and laptop["expires_at"] is not None
    assert "key" not in laptop
    revoked = root.json("keys", "revoke", str(laptop["id"]))
    assert revoked["revoked_at"] is not None
    assert "laptop" not in [k["name"] for k in root.json("keys", "list")]
    assert "laptop" in [k["name"] for k in root.json("keys", "list", "--all")]
    again = root.run("keys", "revoke", str(laptop["id"]))
    assert again.exit_code == 1 and "revoked already" in again.stderr
    unknown = root.run("keys", "revoke", "999")
    assert unknown.exit_code == 1 and "DELETE /api/v1/keys/999: 404" in unknown.stderr


def test_the_servers_refusals(live: LiveServer) -> None:
    token = _token(live, "admin", ADMIN_PASSWORD)
    assert token is not None
    root = Admin(live, token)
    taken = root.run("users", "create", "admin", "--password", "long enough")
    assert taken.exit_code == 1
    assert "the server refused POST /api/v1/users: 409" in taken.stderr
    long = root.run("users", "create", "c" * 200, "--password", "long enough")
    assert long.exit_code == 1 and "422" in long.stderr and "body.username" in long.stderr
    viewer = root.json("users", "create", "val", "--password", "a viewer's pw")
    viewer_token = _token(live, "val", "a viewer's pw")
    assert viewer_token is not None and viewer["role"] == "viewer"
    refused = Admin(live, viewer_token).run("keys", "list")
    assert refused.exit_code == 1 and "403" in refused.stderr
    wrong = Admin(live, "not a token").run("users", "list")
    assert wrong.exit_code == 1 and "401" in wrong.stderr


def test_collectors_against_the_server(live: LiveServer) -> None:
    token = _token(live, "admin", ADMIN_PASSWORD)
    assert token is not None
    root = Admin(live, token)
    web = root.json("collectors", "create", "web1", "--site", "lab", "--cores", "8")
    assert (web["site"], web["machine"], web["cores"]) == ("lab", "web1", 8)
    edited = root.json("collectors", "update", str(web["id"]), "--owner", "ops")
    assert edited["owner"] == "ops"
    assert [c["machine"] for c in root.json("collectors", "list", "--site", "lab")] == ["web1"]
    assert "web1" in root.run("collectors", "list").stdout
