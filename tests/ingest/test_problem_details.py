"""One error shape everywhere: RFC 9457 problem details (application/problem+json) from ingest
(fast path and FastAPI route), the read API, authentication, unknown routes and wrong methods;
validation errors list {field, message}; nothing of the request is echoed beyond an excerpt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fleetscope.edge.problem import excerpt
from fleetscope.ingest.router import IngestFastPath
from tests.helpers import payload, payload_json
from tests.server import LiveServer, start_server


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data")


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert not {"error", "details"} & body.keys()
    return body


def test_ingest_errors_are_problems(live: LiveServer) -> None:
    body = payload_json(payload(1))
    unauthorized = live.client.post("/api/v1/ingest", content=body)
    assert "API key" in assert_problem(unauthorized, 401)["detail"]
    wrong_type = live.client.post(
        "/api/v1/ingest", content=body, headers=live.agent_headers(**{"Content-Type": "text/xml"})
    )
    assert "text/xml" in assert_problem(wrong_type, 415)["detail"]
    invalid = live.client.post(
        "/api/v1/ingest", content=b'{"schema_version": 2}', headers=live.agent_headers()
    )
    problem = assert_problem(invalid, 422)
    assert problem["errors"][0]["field"] == "schema_version"
    assert set(problem["errors"][0]) == {"field", "message"}


def test_the_fastapi_ingest_route_answers_the_same_as_the_fast_path(live: LiveServer) -> None:
    # Without the fast path (an app where it is not installed), the route answers alike.
    app = live.server.app
    plain = FastAPI()
    plain.router = app.router
    plain.exception_handlers = app.exception_handlers
    assert not any(m.cls is IngestFastPath for m in plain.user_middleware)
    with TestClient(plain) as client:
        response = client.post("/api/v1/ingest", content=b"{}", headers=live.agent_headers())
        assert_problem(response, 422)
        assert assert_problem(client.post("/api/v1/ingest", content=b"{}"), 401)


def test_read_api_auth_404_405_and_validation_are_problems(live: LiveServer) -> None:
    assert "log in" in assert_problem(live.client.get("/api/v1/hosts"), 401)["detail"]
    refused = live.client.get(
        "/api/v1/hosts", headers={"Authorization": f"Bearer {live.agent_key}"}
    )
    assert "log in as a user" in assert_problem(refused, 403)["detail"]
    user = live.user_headers()
    assert (
        "no host with id 7"
        in assert_problem(live.client.get("/api/v1/hosts/7", headers=user), 404)["detail"]
    )
    assert_problem(live.client.get("/api/v1/no-such-route", headers=user), 404)
    assert_problem(live.client.get("/static/no-such-file.js"), 404)
    not_allowed = assert_problem(live.client.delete("/api/v1/hosts", headers=user), 405)
    assert "GET" in not_allowed["detail"]
    bad_login = live.client.post("/api/v1/auth/login", json={"username": ""})
    problem = assert_problem(bad_login, 422)
    assert {e["field"] for e in problem["errors"]} == {"body.username", "body.password"}
    wrong = live.client.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
    assert_problem(wrong, 401)
    bad_query = live.client.get("/api/v1/reports/summary?time_range=-1", headers=user)
    assert assert_problem(bad_query, 422)["errors"][0]["field"] == "query.time_range"


def test_errors_never_echo_the_request_back(live: LiveServer) -> None:
    secret = "hunter2-" * 5000
    response = live.client.post(
        "/api/v1/auth/login", json={"username": "x" * 200, "password": secret}
    )
    problem = assert_problem(response, 422)
    assert "hunter2" not in response.text and len(response.content) < 2000
    assert problem["errors"][0]["field"] in {"body.username", "body.password"}
    user = live.user_headers()
    long_name = "n" * 5000
    missing = live.client.get(f"/api/v1/reports/metrics/{long_name}", headers=user)
    assert len(missing.content) < 1000 and "n" * 81 not in missing.text


def test_excerpt_cuts_long_values() -> None:
    assert excerpt("abc") == "'abc'"
    cut = excerpt("y" * 500)
    assert cut.startswith("'" + "y" * 80) and "y" * 81 not in cut and "cut" in cut
