"""`fleetscope admin tenants|users|keys|collectors --server URL --token TOKEN`: the requests the
server mode sends (method, path, JSON body, query, bearer token), checked against a stub
transport (httpx.MockTransport), and the server's problem+json refusals printed whole with
exit code 1. The same commands against the real app: tests/cli/test_admin_accounts_server.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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

    def last(self) -> tuple[str, str, dict[str, str], Any]:
        request = self.seen[-1]
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        body = json.loads(request.content) if request.content else None
        return request.method, request.url.path, dict(request.url.params), body


@pytest.fixture
def stub() -> Stub:
    return Stub(
        {
            ("GET", "/api/v1/tenants"): httpx.Response(200, json=TENANTS),
            ("GET", "/api/v1/users"): httpx.Response(200, json={"items": USERS}),
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
    assert stub.run("users", "list", "--tenant", "acme").exit_code == 0
    assert stub.last() == ("GET", "/api/v1/users", {"tenant_id": "2"}, None)
    made = stub.run("users", "create", "bob", "--role", "editor", "--tenant", "acme")
    assert made.exit_code == 0, made.output
    method, path, _, body = stub.last()
    assert (method, path) == ("POST", "/api/v1/users")
    password = body.pop("password")
    assert body == {"username": "bob", "role": "editor", "tenant_id": 2}
    assert f"password: {password}" in made.stdout  # generated, printed once
    stub.run("users", "create", "carol", "--password", "pw")
    assert stub.last()[3] == {"username": "carol", "password": "pw", "role": "viewer"}
    stub.run("users", "update", "bob", "--role", "admin", "--disable")
    assert stub.last() == ("PATCH", "/api/v1/users/7", {}, {"role": "admin", "disabled": True})
    reset = stub.run("users", "update", "7", "--reset-password", "--json")
    _, _, _, body = stub.last()
    assert json.loads(reset.stdout)["password"] == body["password"]
    assert stub.run("users", "update", "nobody", "--enable").exit_code == 1


def test_key_requests(stub: Stub) -> None:
    made = {"id": 4, "name": "laptop", "scope": "read", "prefix": "fsk_abcdef", "key": "fsk_s"}
    stub.answers[("POST", "/api/v1/keys")] = httpx.Response(201, json=made)
    stub.answers[("GET", "/api/v1/keys")] = httpx.Response(
        200, json=[{**made, "revoked_ms": None}, {"id": 5, "name": "old", "revoked_ms": 1}]
    )
    stub.answers[("DELETE", "/api/v1/keys/4")] = httpx.Response(204)
    created = stub.run("keys", "create", "laptop", "--scope", "read", "--machine-id", "m1")
    assert created.exit_code == 0, created.output
    assert stub.last() == (
        "POST",
        "/api/v1/keys",
        {},
        {"name": "laptop", "scope": "read", "bound_machine_id": "m1"},
    )
    assert created.stdout.count("fsk_s") == 1 and "key: fsk_s" in created.stdout
    listed = json.loads(stub.run("keys", "list", "--json").stdout)
    assert [k["id"] for k in listed] == [4]
    assert len(json.loads(stub.run("keys", "list", "--all", "--json").stdout)) == 2
    assert stub.run("keys", "revoke", "4").exit_code == 0
    assert stub.last()[:2] == ("DELETE", "/api/v1/keys/4")


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
    result = stub.run("users", "create", "x" * 200, "--password", "pw")
    assert result.exit_code == 1
    assert "the server refused POST /api/v1/users: 422 Unprocessable Content" in result.stderr
    assert "1 invalid field" in result.stderr
    assert "body.username: at most 128 characters" in result.stderr
    stub.answers[("GET", "/api/v1/tenants")] = httpx.Response(403, text="no")
    forbidden = stub.run("tenants", "list")
    assert forbidden.exit_code == 1 and "403 Forbidden: no" in forbidden.stderr
