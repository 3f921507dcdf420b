"""`fleetscope admin tenants|users|keys|collectors --server URL --token TOKEN`: the requests the
server mode sends (method, path, JSON body, query, bearer token), checked against a stub
transport (httpx.MockTransport), and the server's problem+json refusals printed whole with
exit code 1. The same commands against the real app: tests/cli/test_admin_accounts_server.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from fleetscope.cli.main import app

SERVER = "http://fleetscope.test:8080"
TOKEN = "session-token"

TENANTS = [{"id": 1, "name": "default", "active": True}, {"id": 2, "name": "acme", "active": True}]
USERS = [{"id": 7, "tenant_id": 2, "username": "bob", "role": "editor"}]


@dataclass
class Stub:
    """Answers by (method, path); records every request."""

    answers: dict[tuple[str, str], httpx.Response] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        found = self.answers.get((request.method, request.url.path))
        if found is None:
            return httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": "?"})
        return found

    def client(self, base_url: str, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            transport=httpx.MockTransport(self.handle),
        )

    def run(self, *words: str) -> Result:
        return CliRunner().invoke(
            app, ["admin", *words, "--server", SERVER, "--token", TOKEN], obj=self.client
        )

    def shape(self, request: httpx.Request) -> tuple[str, str, dict[str, str], Any]:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        body = json.loads(request.content) if request.content else None
        return request.method, request.url.path, dict(request.url.params), body

    def last(self) -> tuple[str, str, dict[str, str], Any]:
        return self.shape(self.seen[-1])

    def sent(self, words: tuple[str, ...]) -> list[tuple[str, str, dict[str, str], Any]]:
        """Every request one command made."""
        before = len(self.seen)
        result = self.run(*words)
        assert result.exit_code == 0, result.output
        return [self.shape(r) for r in self.seen[before:]]


@pytest.fixture
def stub() -> Stub:
    return Stub(
        {
            ("GET", "/api/v1/tenants"): httpx.Response(200, json=TENANTS),
            ("GET", "/api/v1/users"): httpx.Response(200, json={"items": USERS}),
            ("GET", "/api/v1/users/7"): httpx.Response(200, json=USERS[0]),
            ("GET", "/api/v1/me"): httpx.Response(
                200, json={"tenant_id": 2, "tenant_name": "acme"}
            ),
        }
    )


def test_tenant_requests(stub: Stub) -> None:
    stub.answers[("POST", "/api/v1/tenants")] = httpx.Response(201, json={"id": 3, "name": "n"})
    stub.answers[("PATCH", "/api/v1/tenants/2")] = httpx.Response(200, json=TENANTS[1])
    listed = stub.run("tenants", "list")
    assert listed.exit_code == 0 and "acme" in listed.stdout
    assert stub.last()[:2] == ("GET", "/api/v1/tenants")
    assert json.loads(stub.run("tenants", "create", "n", "--json").stdout)["id"] == 3
    assert stub.last() == ("POST", "/api/v1/tenants", {}, {"name": "n"})
    stub.run("tenants", "update", "acme", "--name", "acme-eu")
    assert stub.last() == ("PATCH", "/api/v1/tenants/2", {}, {"name": "acme-eu"})
    stub.run("tenants", "deactivate", "2")
    assert stub.last() == ("PATCH", "/api/v1/tenants/2", {}, {"active": False})
    stub.run("tenants", "activate", "acme")
    assert stub.last() == ("PATCH", "/api/v1/tenants/2", {}, {"active": True})


def test_user_requests(stub: Stub) -> None:
    stub.answers[("POST", "/api/v1/users")] = httpx.Response(201, json=USERS[0])
    stub.answers[("PATCH", "/api/v1/users/7")] = httpx.Response(200, json=USERS[0])
    stub.answers[("POST", "/api/v1/users/7/password")] = httpx.Response(204)
    assert stub.sent(("users", "list", "--tenant", "acme")) == [
        ("GET", "/api/v1/me", {}, None),
        ("GET", "/api/v1/users", {}, None),
    ]
    made = stub.run("users", "create", "bob", "--role", "editor", "--tenant", "acme")
    assert made.exit_code == 0, made.output
    method, path, _, body = stub.last()
    assert (method, path) == ("POST", "/api/v1/users")
    password = body.pop("password")
    assert body == {"username": "bob", "role": "editor", "tenant_id": 2}
    assert f"password: {password}" in made.stdout  # generated, printed once
    stub.run("users", "create", "carol", "--password", "pw-carol")
    assert stub.last()[3] == {"username": "carol", "password": "pw-carol", "role": "viewer"}
    assert stub.sent(("users", "update", "bob", "--role", "admin", "--disable")) == [
        ("GET", "/api/v1/users", {}, None),
        ("PATCH", "/api/v1/users/7", {}, {"role": "admin", "disabled": True}),
        ("GET", "/api/v1/users/7", {}, None),
    ]
    before = len(stub.seen)
    reset = stub.run("users", "update", "7", "--reset-password", "--json")
    (post, get) = [stub.shape(r) for r in stub.seen[before:]]
    assert post[:2] == ("POST", "/api/v1/users/7/password") and get[:2] == (
        "GET",
        "/api/v1/users/7",
    )
    assert json.loads(reset.stdout)["password"] == post[3]["password"]
    assert stub.run("users", "update", "nobody", "--enable").exit_code == 1
    # What the API does not offer, or another tenant than the token's: exit code 2.
    superuser = stub.run("users", "update", "bob", "--superuser")
    assert superuser.exit_code == 2 and "--data-dir" in superuser.stderr
    assert stub.run("users", "create", "su", "--superuser").exit_code == 2
    other = stub.run("users", "list", "--tenant", "default")
    assert other.exit_code == 2 and "the token's tenant ('acme')" in other.stderr


def test_key_requests(stub: Stub) -> None:
    made = {"id": 4, "name": "laptop", "scope": "ingest", "prefix": "fsk_abcdef", "key": "fsk_s"}
    stub.answers[("POST", "/api/v1/keys")] = httpx.Response(201, json=made)
    stub.answers[("GET", "/api/v1/keys")] = httpx.Response(
        200,
        json=[
            {**made, "revoked_at": None},
            {"id": 5, "name": "old", "revoked_at": "2026-12-01T10:00:00Z"},
        ],
    )
    stub.answers[("DELETE", "/api/v1/keys/4")] = httpx.Response(204)
    created = stub.run("keys", "create", "laptop", "--machine-id", "m1", "--expires-days", "1")
    assert created.exit_code == 0, created.output
    method, path, _, body = stub.last()
    expires = datetime.fromisoformat(body.pop("expires_at"))
    assert abs((expires - datetime.now(UTC)).total_seconds() - 86400) < 60
    assert (method, path, body) == (
        "POST",
        "/api/v1/keys",
        {"name": "laptop", "scope": "ingest", "machine_id": "m1"},
    )
    assert created.stdout.count("fsk_s") == 1 and "key: fsk_s" in created.stdout
    listed = json.loads(stub.run("keys", "list", "--json").stdout)
    assert [k["id"] for k in listed] == [4]
    every = stub.run("keys", "list", "--all")
    assert "2026-12-01 10:00:00Z" in every.stdout  # the API's ISO times, as the store's
    assert [r[:2] for r in stub.sent(("keys", "revoke", "4"))] == [
        ("GET", "/api/v1/keys"),
        ("DELETE", "/api/v1/keys/4"),
        ("GET", "/api/v1/keys"),
    ]
    again = stub.run("keys", "revoke", "5")
    assert again.exit_code == 1 and "revoked already" in again.stderr


def test_collector_requests(stub: Stub) -> None:
    one = {"id": 9, "site": "lab", "machine": "web1", "cores": 8}
    stub.answers[("GET", "/api/v1/collectors")] = httpx.Response(200, json=[one])
    stub.answers[("POST", "/api/v1/collectors")] = httpx.Response(201, json=one)
    stub.answers[("PATCH", "/api/v1/collectors/9")] = httpx.Response(200, json=one)
    assert "web1" in stub.run("collectors", "list", "--site", "lab").stdout
    assert stub.last() == ("GET", "/api/v1/collectors", {"site": "lab"}, None)
    stub.run("collectors", "create", "web1", "--site", "lab", "--cores", "8")
    assert stub.last()[3] == {"machine": "web1", "site": "lab", "cores": 8}
    stub.run("collectors", "update", "9", "--owner", "", "--platform", "Linux")
    assert stub.last()[3] == {"owner": None, "platform": "Linux"}


def test_a_refusal_is_printed_whole_with_exit_code_1(stub: Stub) -> None:
    stub.answers[("POST", "/api/v1/users")] = httpx.Response(
        422,
        json={
            "type": "about:blank",
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "1 invalid field",
            "errors": [{"field": "body.username", "message": "at most 128 characters"}],
        },
        headers={"Content-Type": "application/problem+json"},
    )
    result = stub.run("users", "create", "x" * 200, "--password", "long enough")
    assert result.exit_code == 1
    assert "the server refused POST /api/v1/users: 422 Unprocessable Content" in result.stderr
    assert "1 invalid field" in result.stderr
    assert "body.username: at most 128 characters" in result.stderr
    stub.answers[("GET", "/api/v1/tenants")] = httpx.Response(403, text="no")
    forbidden = stub.run("tenants", "list")
    assert forbidden.exit_code == 1 and "403 Forbidden: no" in forbidden.stderr
