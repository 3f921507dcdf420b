"""The server on a Redis stream, in process: ingest enqueues (sharded by host) and leaves digest
to workers; a full backlog is 429 with Retry-After. Each test on its own key prefix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscope.cli.main import app
from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.startup import redacted
from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.stream.base import NewMessage
from fleetscope.stream.redis import RedisStream
from tests.helpers import payload, payload_json
from tests.redis_support import REDIS_URL
from tests.server import LiveServer, start_server


@pytest.fixture
def on_redis(tmp_path: Path, redis_prefix: str) -> Iterator[LiveServer]:
    yield from start_server(
        tmp_path / "data",
        stream_url=REDIS_URL,
        stream_prefix=redis_prefix,
        stream_max_backlog=3,
        stream_retry_after_seconds=7,
    )


def test_settings_leave_digest_to_workers_with_a_redis_stream() -> None:
    assert ServerSettings().digest_in_process
    assert not ServerSettings(stream_url="redis://x").digest_in_process
    assert ServerSettings(stream_url="redis://x", embedded_digest=True).digest_in_process
    assert not ServerSettings(embedded_digest=False).digest_in_process


def test_ingest_enqueues_into_redis_by_host_and_does_not_digest(on_redis: LiveServer) -> None:
    stream = on_redis.server.stream
    assert isinstance(stream, RedisStream)
    for host in ("a", "b"):
        response = on_redis.client.post(
            "/api/v1/ingest",
            content=payload_json(payload(2, hostname=host, machine_id=f"m-{host}")),
            headers=on_redis.agent_headers(),
        )
        assert response.status_code == 202, response.text
    assert stream.depth() == 2  # nobody digests in this process
    messages = stream.read("test", 10, 0)
    hosts = sorted("m-a" if b'"m-a"' in m.body else "m-b" for m in messages)
    assert hosts == ["m-a", "m-b"]
    for message in messages:
        host = "m-a" if b'"m-a"' in message.body else "m-b"
        shard = stream.shard_of(NewMessage(AGENT_PAYLOAD, 1, b"", key=host))
        assert message.id.startswith(f"{shard}/")  # sharded by the payload's machine id
    assert on_redis.client.get("/readyz").status_code == 200


def test_a_full_backlog_is_429_with_retry_after(on_redis: LiveServer) -> None:
    for _ in range(3):
        ok = on_redis.client.post(
            "/api/v1/ingest", content=payload_json(payload(1)), headers=on_redis.agent_headers()
        )
        assert ok.status_code == 202
    full = on_redis.client.post(
        "/api/v1/ingest", content=payload_json(payload(1)), headers=on_redis.agent_headers()
    )
    assert full.status_code == 429
    assert full.headers["retry-after"] == "7"
    assert "digest is behind" in full.json()["detail"]
    metrics = on_redis.client.get("/metrics").text
    assert 'fleetscope_ingest_payloads_rejected_total{reason="backlog"} 1.0' in metrics
    assert "fleetscope_stream_depth 3.0" in metrics


def test_worker_needs_a_shared_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETSCOPE_STREAM_URL", raising=False)
    result = CliRunner().invoke(app, ["worker", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--stream redis://" in result.output


def test_logged_urls_hide_the_password() -> None:
    assert redacted("redis://:s3cret@cache:6380/0") == "redis://:***@cache:6380/0"
    assert redacted("redis://user:s3cret@cache/0") == "redis://user:***@cache/0"
    assert redacted("redis://cache:6379/0") == "redis://cache:6379/0"
