"""The database or the stream unreachable: every route answers 503 with Retry-After, never
500, and /readyz names what is down without its error text to an anonymous caller. Each
dependency is cut through a TCP proxy (tests/tcp_proxy.py); the real servers keep running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import private_database
from tests.helpers import payload, payload_json
from tests.redis_support import REDIS_URL
from tests.server import ADMIN_PASSWORD, LiveServer, start_server
from tests.tcp_proxy import TcpProxy


@pytest.fixture
def proxied(tmp_path: Path, redis_prefix: str) -> Iterator[tuple[LiveServer, TcpProxy, TcpProxy]]:
    """A server on PostgreSQL and Redis, each behind a proxy of its own."""
    redis_url = sa.make_url(REDIS_URL.replace("redis://", "postgresql://", 1))
    with private_database("fleetscope_outage") as database_url:
        url = sa.make_url(database_url)
        db_proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        redis_proxy = TcpProxy(redis_url.host or "127.0.0.1", redis_url.port or 6379)
        db_proxy.start()
        redis_proxy.start()
        try:
            yield from (
                (live, db_proxy, redis_proxy)
                for live in start_server(
                    tmp_path / "data",
                    database_url=url.set(port=db_proxy.port).render_as_string(hide_password=False),
                    stream_url=f"redis://127.0.0.1:{redis_proxy.port}/0",
                    stream_prefix=redis_prefix,
                    embedded_digest=True,
                )
            )
        finally:
            db_proxy.close()
            redis_proxy.close()


def _unavailable(response: object, what: str) -> None:
    status = getattr(response, "status_code", None)
    text = getattr(response, "text", "")
    assert status == 503, f"{what}: {status} {text}"
    headers = getattr(response, "headers", {})
    assert int(headers["retry-after"]) > 0, what


def test_database_outage_answers_503_everywhere(
    proxied: tuple[LiveServer, TcpProxy, TcpProxy],
) -> None:
    live, db_proxy, _ = proxied
    user = live.user_headers()
    live.client.cookies.clear()
    body = payload_json(payload(1))
    db_proxy.cut()
    # A key not in the cache, as every key is once its cache entry expires.
    live.server.engine.dispose()
    client = live.client
    _unavailable(
        client.post(
            "/api/v1/ingest",
            content=body,
            headers={"Authorization": "Bearer not-cached-key", "Content-Type": "application/json"},
        ),
        "ingest",
    )
    _unavailable(client.get("/api/v1/hosts", headers=user), "read API")
    _unavailable(
        client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}),
        "login",
    )
    _unavailable(client.get("/", headers=user), "dashboard page")
    ready = client.get("/readyz")
    _unavailable(ready, "readyz")
    assert ready.json()["down"] == ["database"]
    assert "problems" not in ready.json()
    assert str(db_proxy.port) not in ready.text  # no internals for anonymous callers
    db_proxy.start()
    assert client.get("/api/v1/hosts", headers=user).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_stream_outage_answers_503_and_readyz_details_need_a_user(
    proxied: tuple[LiveServer, TcpProxy, TcpProxy],
) -> None:
    live, _, redis_proxy = proxied
    user = live.user_headers()
    live.client.cookies.clear()  # the login's cookie would make every request a user's
    redis_proxy.cut()
    response = live.client.post(
        "/api/v1/ingest", content=payload_json(payload(1)), headers=live.agent_headers()
    )
    _unavailable(response, "ingest")
    assert str(redis_proxy.port) not in response.text
    anonymous = live.client.get("/readyz")
    _unavailable(anonymous, "readyz")
    assert anonymous.json()["down"] == ["stream"]
    assert str(redis_proxy.port) not in anonymous.text
    detailed = live.client.get("/readyz", headers=user)
    assert detailed.status_code == 503
    assert "stream" in detailed.json()["problems"]
    assert live.client.get("/metrics").status_code == 200
    redis_proxy.start()
    accepted = live.client.post(
        "/api/v1/ingest", content=payload_json(payload(1)), headers=live.agent_headers()
    )
    assert accepted.status_code == 202
