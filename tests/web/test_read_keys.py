"""API keys by scope (issue 12): a `read` key authenticates the read routes (REST, Prometheus
API, live feed) and nothing that sends or changes; an `ingest` key sends and is refused on
the read side; a revoked read key is refused at once, a revoked ingest key once ingest's key
cache has let it go (cli/wiring.py KEY_CACHE_SECONDS, docs/accounts.md). SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.websockets import WebSocketDisconnect

from fleetscope.cli.wiring import KEY_CACHE_SECONDS, CachedKeys
from fleetscope.model.auth import Scope
from fleetscope.store import accounts, keys
from fleetscope.store import auth as store_auth
from tests.accounts_support import bearer, make_key
from tests.helpers import payload, payload_json
from tests.server import LiveServer, start_server


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def _send(live: LiveServer, headers: dict[str, str]) -> int:
    return live.client.post(
        "/api/v1/ingest",
        content=payload_json(payload()),
        headers={**headers, "Content-Type": "application/json"},
    ).status_code


def test_read_keys_read_and_ingest_keys_send(live: LiveServer) -> None:
    admin = live.user_headers()
    live.client.cookies.clear()
    read_id, read_key = make_key(live, admin, "grafana", "read")
    reader, agent = bearer(read_key), bearer(live.agent_key)
    assert _send(live, agent) == 202
    live.wait_digested()
    for path in (
        "/api/v1/hosts",
        "/api/v1/fleet",
        "/api/v1/alerts/rules",
        "/prometheus/api/v1/labels",
    ):
        assert live.client.get(path, headers=reader).status_code == 200, path
        refused = live.client.get(path, headers=agent)
        assert refused.status_code == 403, (path, refused.text)
    assert [h["name"] for h in live.client.get("/api/v1/hosts", headers=reader).json()] == ["web-1"]
    with live.client.websocket_connect(f"/api/v1/ws/metrics?token={read_key}") as ws:
        assert ws.receive_json()["type"] == "hello"
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        live.client.websocket_connect(f"/api/v1/ws/metrics?token={live.agent_key}") as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 4401
    # A read key sends nothing and changes nothing.
    assert _send(live, reader) == 403
    rule = {"name": "r", "signal": "cpu_percent", "op": ">", "threshold": 1}
    assert live.client.post("/api/v1/alerts/rules", json=rule, headers=reader).status_code == 403
    analysis = {"host": "web-1", "start": "0", "end": "60"}
    assert live.client.post("/api/v1/analyses", json=analysis, headers=reader).status_code == 403
    # A login session does not send either.
    assert _send(live, admin) == 403
    # Revoked: the read side verifies read keys on every request, so at once.
    assert live.client.delete(f"/api/v1/keys/{read_id}", headers=admin).status_code == 204
    assert live.client.get("/api/v1/hosts", headers=reader).status_code == 401


def test_a_revoked_ingest_key_is_refused_once_the_cache_lets_it_go(engine: Engine) -> None:
    with engine.connect() as conn:
        tenant = accounts.default_tenant_id(conn)
    assert tenant is not None
    made = keys.create_key(engine, tenant, "laptop", Scope.INGEST)
    now = [1000.0]
    cached = CachedKeys(
        lambda key: keys.verify_key(engine, key) or store_auth.verify_session(engine, key),
        clock=lambda: now[0],
    )
    assert cached(made.secret) is not None
    assert keys.revoke_key(engine, tenant, made.key.id)
    now[0] += KEY_CACHE_SECONDS - 0.5
    assert cached(made.secret) is not None  # still within the documented lifetime
    now[0] += 1.0
    assert cached(made.secret) is None and cached.known(made.secret) is None
    # A deactivated tenant's key goes the same way.
    other = keys.create_key(engine, tenant, "desk", Scope.INGEST)
    assert cached(other.secret) is not None
    accounts.set_tenant_active(engine, tenant, False)
    now[0] += KEY_CACHE_SECONDS + 0.1
    assert cached(other.secret) is None
