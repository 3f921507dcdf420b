"""The agent's kept-alive connection against a server that closes idle connections sooner
than the agent's interval (issue 14, item 1): every upload then meets a socket the server
closed; it must be sent again at once on a fresh connection, never counted as a failure and
never stored twice. And `fleetscope up` keeps connections open longer than its agent waits."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn

from fleetscope.agent.http import StdlibTransport
from fleetscope.agent.settings import AgentSettings
from fleetscope.cli.agent import agent_service, agent_uploader
from fleetscope.cli.server import build_server
from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.up import server_keep_alive_seconds
from fleetscope.config.settings import settings_from
from fleetscope.store.auth import local_agent_key
from tests.snapshots import stored_snapshots

INTERVAL = 0.6
KEEP_ALIVE = 0.2  # uvicorn closes an idle connection after this: before every next upload
CYCLES = 6


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[tuple[str, str, object]]:
    settings = settings_from(ServerSettings, {"data_dir": tmp_path / "server"})
    built = build_server(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        built.app, log_level="warning", lifespan="on", timeout_keep_alive=KEEP_ALIVE
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    key = local_agent_key(built.engine, settings.data_dir)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", key, built
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_every_upload_over_an_idle_closed_connection_is_delivered_once(
    real_server: tuple[str, str, object], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, key, built = real_server
    agent_settings = settings_from(
        AgentSettings,
        {"data_dir": tmp_path / "agent", "interval_seconds": INTERVAL, "collectors": ["cpu"]},
    )
    service = agent_service(agent_settings, agent_uploader(agent_settings, key, url))
    caplog.set_level(logging.WARNING)
    try:
        service.run(cycles=CYCLES)
        waiting = service.spool.status().depth
    finally:
        service.sink.close()
        service.spool.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert service.status.snapshots_delivered == CYCLES
    assert waiting == 0
    engine = built.engine  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while built.stream.depth() > 0:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    with engine.connect() as conn:
        frames = len({ts for _, ts, _ in stored_snapshots(conn)})
        batches = conn.execute(sa.text("SELECT sum(snapshots) FROM ingested_batches")).scalar()
    assert (frames, batches) == (CYCLES, CYCLES)


class _CloseAtOnce(BaseHTTPRequestHandler):
    """Reads the request, then hangs up without a byte of response."""

    protocol_version = "HTTP/1.1"
    requests = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests += 1
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_a_fresh_connection_that_fails_is_not_sent_again() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CloseAtOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    transport = StdlibTransport(timeout_seconds=5)
    try:
        with pytest.raises(ConnectionError):
            transport.post(f"http://127.0.0.1:{server.server_address[1]}/x", b"{}", {})
        assert _CloseAtOnce.requests == 1
    finally:
        transport.close()
        server.shutdown()
        server.server_close()


def test_up_keeps_idle_connections_open_longer_than_its_agent_waits() -> None:
    for interval in (1.0, 10.0, 60.0):
        assert server_keep_alive_seconds(interval) > interval
    assert server_keep_alive_seconds(None) == 5  # no agent of ours: uvicorn's default
