"""One request-size limit on every route (max_request_bytes, 1 MiB by default), enforced while
the body is read; ingest keeps its own larger limit. bench/bench_body_limit.py measures the
server's memory under a 60 MiB login."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import payload, payload_json
from tests.server import LiveServer, start_server


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", max_request_bytes=16 * 1024)


def test_a_declared_oversized_login_is_413_before_it_is_read(live: LiveServer) -> None:
    body = b'{"username": "admin", "password": "' + b"p" * (100 * 1024) + b'"}'
    response = live.client.post(
        "/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text[:200]
    assert response.headers["content-type"] == "application/problem+json"
    assert str(16 * 1024) in response.json()["detail"]
    assert len(response.content) < 1000


def test_a_streamed_body_is_cut_at_the_limit(live: LiveServer) -> None:
    sent = []

    def chunks() -> Iterator[bytes]:
        yield b'{"username": "admin", "password": "'
        for _ in range(100):
            sent.append(1)
            yield b"p" * 8192
        yield b'"}'

    response = live.client.post(
        "/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text[:200]
    assert "request body exceeds" in response.json()["detail"]


def test_small_bodies_pass_and_ingest_keeps_its_own_limit(live: LiveServer) -> None:
    live.user_headers()  # a normal login still works
    big = payload_json(payload(90))
    assert len(big) > 16 * 1024
    response = live.client.post("/api/v1/ingest", content=big, headers=live.agent_headers())
    assert response.status_code == 202, response.text[:300]


def test_the_default_limit_is_one_mebibyte(tmp_path: Path) -> None:
    for server in start_server(tmp_path / "d"):
        body = b'{"username": "admin", "password": "' + b"p" * (1024 * 1024) + b'"}'
        response = server.client.post(
            "/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
