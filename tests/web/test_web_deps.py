"""web/deps.py: the typed dependencies of the read routes (the signed-in user, the time range
and step, the limits, the host lookup), on a probe app of their own over a real SQLite store.

No `from __future__ import annotations`: FastAPI reads the probe routes' annotations."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from fleetscope.edge.problem import install_problem_handlers
from fleetscope.query.auth import AuthService
from fleetscope.query.fleet import FleetQueries
from fleetscope.query.hosts import HostQueries
from fleetscope.query.inventory import InventoryQueries
from fleetscope.query.metrics import MetricQueries
from fleetscope.query.processes import ProcessQueries
from fleetscope.store import auth as store_auth
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.web.deps import (
    CurrentUser,
    HostId,
    ProcessGroupLimit,
    Services,
    StepParams,
    TimeRangeParams,
    known_host,
    read_router,
)
from fleetscope.web.services import SESSION_COOKIE, ReadServices

PASSWORD = "correct horse battery staple"


def probe_app(services: ReadServices) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    router = read_router(services)

    @router.get("/who")
    def who(user: CurrentUser, bound: Services) -> dict[str, Any]:
        return {"tenant": user.tenant_id, "kind": user.kind, "same": bound is services}

    @router.get("/range")
    def time_range(time_range: TimeRangeParams, step: StepParams) -> dict[str, Any]:
        window = time_range.window()
        return {
            "start_ms": window.start_ms,
            "end_ms": window.end_ms,
            "step_ms": step.milliseconds(),
        }

    @router.get("/groups")
    def groups(limit: ProcessGroupLimit = 10) -> dict[str, int]:
        return {"limit": limit}

    @router.get("/hosts/{host_id}")
    def host(host_id: HostId, user: CurrentUser) -> dict[str, str]:
        return {"name": known_host(services, user.tenant_id, host_id).name}

    app.include_router(router)
    unbound = APIRouter()

    @unbound.get("/unbound")
    def unbound_route(user: CurrentUser) -> dict[str, int]:
        return {"tenant": user.tenant_id}

    app.include_router(unbound)
    return app


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[tuple[TestClient, str, str]]:
    """The client, a login token and the agent key."""
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    created = store_auth.bootstrap(engine, tmp_path, PASSWORD)
    assert created is not None
    services = ReadServices(
        AuthService(engine),
        HostQueries(engine),
        MetricQueries(engine),
        FleetQueries(engine),
        ProcessQueries(engine),
        InventoryQueries(engine),
    )
    token = services.auth.login("admin", PASSWORD)
    assert token is not None
    with TestClient(probe_app(services)) as client:
        yield client, token, created.agent_api_key
    engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_current_user_from_a_bearer_token_or_the_cookie(
    probe: tuple[TestClient, str, str],
) -> None:
    client, token, _ = probe
    by_header = client.get("/who", headers=bearer(token))
    assert by_header.status_code == 200
    assert by_header.json() == {"tenant": 1, "kind": "user", "same": True}
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/who").json()["kind"] == "user"


def test_current_user_refuses_strangers_401_and_agent_keys_403(
    probe: tuple[TestClient, str, str],
) -> None:
    client, _, agent_key = probe
    for headers in ({}, bearer("fss_not-a-session"), {"Authorization": "Basic eDp5"}):
        answer = client.get("/who", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.headers["content-type"] == "application/problem+json"
        assert "POST /api/v1/auth/login" in answer.json()["detail"]
    agent = client.get("/who", headers=bearer(agent_key))
    assert agent.status_code == 403
    assert "agent API key can only send data" in agent.json()["detail"]


def test_a_route_on_a_router_without_the_services_fails_loudly(
    probe: tuple[TestClient, str, str],
) -> None:
    client, token, _ = probe
    with pytest.raises(TypeError, match="read_router"):
        client.get("/unbound", headers=bearer(token))


def test_time_range_and_step_parse_as_the_routes_did(probe: tuple[TestClient, str, str]) -> None:
    client, _, _ = probe
    ok = client.get("/range", params={"start_time": "0", "end_time": "60", "step": "5m"})
    assert ok.json() == {"start_ms": 0, "end_ms": 60_000, "step_ms": 300_000}
    no_step = client.get("/range", params={"start_time": "2026-11-22T08:00:00Z"}).json()
    assert no_step["step_ms"] is None
    assert no_step["start_ms"] == 1_795_334_400_000
    assert no_step["end_ms"] >= no_step["start_ms"]  # end_time defaults to now
    for params, detail in (
        ({}, "start_time is required (ISO-8601 or epoch seconds)"),
        ({"start_time": "yesterday"}, "start_time='yesterday' is neither ISO-8601"),
        ({"start_time": "60", "end_time": "0"}, "end_time (1970-01-01T00:00:00+00:00) is before"),
        ({"start_time": "0", "step": "0"}, "step='0' must be positive"),
        ({"start_time": "0", "step": "soon"}, "soon"),
        ({"start_time": "1e20"}, "start_time='1e20' is out of range"),
        # The calendar's first hour east of UTC has no UTC equivalent: a 400, not a 500.
        ({"start_time": "0001-01-01T00:00:00+01:00"}, "start_time='0001-01-01T00:00:00+01:00'"),
    ):
        answer = client.get("/range", params=params)
        assert answer.status_code == 400, params
        assert answer.json()["detail"].startswith(detail) or detail in answer.json()["detail"]


def test_limit_is_a_typed_bounded_integer(probe: tuple[TestClient, str, str]) -> None:
    client, _, _ = probe
    assert client.get("/groups").json() == {"limit": 10}
    assert client.get("/groups", params={"limit": "100"}).json() == {"limit": 100}
    for bad in ("0", "101", "ten", "99999999999999999999999"):
        answer = client.get("/groups", params={"limit": bad})
        assert answer.status_code == 422, bad
        assert [e["field"] for e in answer.json()["errors"]] == ["query.limit"]


def test_the_dependencies_document_their_parameters(probe: tuple[TestClient, str, str]) -> None:
    client, _, _ = probe
    doc = client.get("/openapi.json").json()
    params = {p["name"]: p for p in doc["paths"]["/range"]["get"]["parameters"]}
    assert set(params) == {"start_time", "end_time", "step"}
    assert params["start_time"]["description"] == "ISO-8601 or epoch seconds"
    assert params["end_time"]["description"] == "ISO-8601 or epoch seconds; default now"
    assert not any(p["required"] for p in params.values())
    [limit] = doc["paths"]["/groups"]["get"]["parameters"]
    assert limit["schema"] | {"title": None} == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
        "description": "groups to return, 1 to 100",
        "title": None,
    }
    # The services binding is a router-level dependency with no parameter of its own.
    assert "parameters" not in doc["paths"]["/who"]["get"]


def test_known_host_is_a_404_naming_the_id(probe: tuple[TestClient, str, str]) -> None:
    client, token, _ = probe
    answer = client.get("/hosts/424242", headers=bearer(token))
    assert answer.status_code == 404
    assert answer.json()["detail"] == "no host with id 424242"
