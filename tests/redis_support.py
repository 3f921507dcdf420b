"""The Redis the Redis tests use: FLEETSCOPE_TEST_REDIS_URL, default the machine's
127.0.0.1:6379. Every test works under its own random key prefix and deletes its keys after,
so tests (and other users of that Redis) never see each other's data."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.conftest import require
from tests.env import variable_for_tests

REDIS_URL = variable_for_tests("FLEETSCOPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_client() -> redis.Redis:
    """A client for the test Redis; skips (fails under CI=true) when it does not answer."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        require(False, f"no Redis at {REDIS_URL} ({exc}); set FLEETSCOPE_TEST_REDIS_URL")
    return client


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def private_prefix() -> Iterator[str]:
    """A fresh key prefix, its keys deleted afterwards."""
    client = redis_client()
    prefix = f"fleetscope-test:{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        delete_prefix(client, prefix)
        client.close()


def start_private_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    """A redis-server of the test's own on `port`, AOF fsynced on every write (the setting
    under which a 2xx from ingest survives Redis being killed), files in `directory`. The
    caller stops it by its PID; the machine's shared Redis is never touched."""
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    require(binary is not None, "redis-server (or valkey-server) is not installed")
    assert binary is not None
    directory.mkdir(parents=True, exist_ok=True)
    log = open(directory / "redis.log", "ab")  # noqa: SIM115 (the process holds it)
    process = subprocess.Popen(
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--dir", str(directory),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            assert process.poll() is None, f"redis-server exited: see {directory / 'redis.log'}"
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)
    client.close()
    return process
