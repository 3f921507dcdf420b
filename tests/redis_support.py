"""The Redis the Redis tests use: FLEETSCOPE_TEST_REDIS_URL, default the machine's
127.0.0.1:6379. Every test works under its own random key prefix and deletes its keys after,
so tests (and other users of that Redis) never see each other's data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import redis

from tests.conftest import require

REDIS_URL = os.environ.get("FLEETSCOPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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
