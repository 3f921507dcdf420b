"""An in-process server (the real app, real SQLite files in a temp dir) for HTTP-level tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from fleetscope.cli.server import Server, build_server
from fleetscope.cli.settings import ServerSettings
from fleetscope.config.settings import settings_from
from fleetscope.store.auth import CREDENTIALS_FILE

ADMIN_PASSWORD = "correct horse battery staple"


@dataclass
class LiveServer:
    server: Server
    client: TestClient
    agent_key: str
    data_dir: Path

    def agent_headers(self, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.agent_key}",
            "Content-Type": "application/json",
            **extra,
        }

    def user_headers(self) -> dict[str, str]:
        response = self.client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def wait_digested(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.server.stream.depth() > 0:
            assert time.monotonic() < deadline, "digest did not empty the stream in time"
            time.sleep(0.02)


def start_server(data_dir: Path, **overrides: object) -> Iterator[LiveServer]:
    # No retention unless asked: ingest refuses samples older than the raw retention, and the
    # fixtures' times (tests/helpers.py T0) are fixed dates that the calendar leaves behind.
    keep_all = dict.fromkeys(
        [
            "raw_retention_days",
            "rollup_1m_retention_days",
            "rollup_1h_retention_days",
            "process_rollup_retention_days",
        ]
    )
    defaults = {"data_dir": data_dir, "admin_password": ADMIN_PASSWORD, **keep_all}
    settings = settings_from(ServerSettings, defaults | overrides)
    server = build_server(settings)
    key = dict(
        line.split("=", 1) for line in (data_dir / CREDENTIALS_FILE).read_text().splitlines()
    )["agent_api_key"]
    with TestClient(server.app) as client:
        yield LiveServer(server, client, key, data_dir)
