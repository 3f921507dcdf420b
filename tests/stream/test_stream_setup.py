"""The server's embedded stream pushes back on ingest only when digest runs in the process; the
Redis stream gets its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.wiring import SOFT_BACKLOG_BATCHES, make_stream
from fleetscope.config.settings import ConfigError, settings_from
from fleetscope.stream.redis import RedisStream
from fleetscope.stream.sqlite import SQLiteStream


@pytest.mark.parametrize("in_process", [True, False])
def test_backpressure_only_with_an_in_process_digest(tmp_path: Path, in_process: bool) -> None:
    """So is the handoff of ingest's decoded payloads: with no digest here none is claimed."""
    settings = settings_from(ServerSettings, {"data_dir": tmp_path, "embedded_digest": in_process})
    stream = make_stream(settings)
    assert isinstance(stream, SQLiteStream)
    assert stream.soft_backlog == (
        SOFT_BACKLOG_BATCHES * settings.digest_batch_size if in_process else None
    )
    assert stream.handoff_max == (
        (SOFT_BACKLOG_BATCHES + 1) * settings.digest_batch_size if in_process else 0
    )
    stream.close()


def test_the_redis_stream_gets_the_lease_setting() -> None:
    """stream_lease_seconds (default 5 s) reaches the Redis stream; below 0.5 s it is refused
    with the setting's name (a worker beats every third of it)."""
    redis_url = {"stream_url": "redis://127.0.0.1:6379/0"}
    default = make_stream(settings_from(ServerSettings, redis_url))
    assert isinstance(default, RedisStream)
    assert default.leases.lease_ms == 5000
    default.close()
    settings = settings_from(ServerSettings, {**redis_url, "stream_lease_seconds": "2.5"})
    stream = make_stream(settings)
    assert isinstance(stream, RedisStream)
    assert stream.leases.lease_ms == 2500
    stream.close()
    with pytest.raises(ConfigError, match=r"stream_lease_seconds.*>= 0\.5"):
        settings_from(ServerSettings, {**redis_url, "stream_lease_seconds": 0.1}, name="server")
