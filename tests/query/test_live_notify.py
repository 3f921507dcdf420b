"""The live feed across processes, on the real Redis: a `fleetscope worker` pool digests what
a server (without digest of its own) enqueued, publishes the points it committed, and the
server's WebSocket pushes them (stream/notify.py, query/live.py LiveRelay). Each test on its
own key prefix and channel."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.worker import WorkerPool
from fleetscope.query.fleet import Headline
from fleetscope.query.live import LivePoint, decode_points, encode_points
from fleetscope.stream.notify import RedisNotifier, live_channel
from tests.redis_support import REDIS_URL, redis_client
from tests.server import LiveServer, start_server
from tests.web.test_dashboard_api import full_snapshot, send


def test_points_survive_the_wire_and_bad_messages_are_named() -> None:
    point = LivePoint(3, 42, "db-1", 1795000000.5, Headline(12.5, None, 75.0, 1500.0))
    assert decode_points(encode_points([point])) == [point]
    with pytest.raises(ValueError, match="bad live message"):
        decode_points(b'[[1, 2, "x", "soon", 1, 2, 3, 4]]')
    with pytest.raises(ValueError, match="bad live message"):
        decode_points(b"not json")


def test_a_published_message_reaches_a_subscriber(redis_prefix: str) -> None:
    redis_client().close()  # skips when no Redis answers
    received: list[bytes] = []
    arrived = threading.Event()
    listener = RedisNotifier.from_url(REDIS_URL, redis_prefix)
    sender = RedisNotifier.from_url(REDIS_URL, redis_prefix)
    try:
        listener.subscribe(lambda body: (received.append(body), arrived.set()))
        assert listener.subscribed.wait(5)
        assert sender.publish(b"hello") == 1
        assert arrived.wait(2)
        assert received == [b"hello"]
    finally:
        listener.close()
        sender.close()


@pytest.fixture
def split(tmp_path: Path, redis_prefix: str) -> Iterator[tuple[LiveServer, WorkerPool]]:
    """A server that only ingests and serves, and a worker pool digesting beside it."""
    redis_client().close()
    overrides = {"stream_url": REDIS_URL, "stream_prefix": redis_prefix}
    for live in start_server(tmp_path / "data", **overrides):
        assert not live.server.settings.digest_in_process
        pool = WorkerPool(
            ServerSettings(data_dir=tmp_path / "data", **overrides),  # type: ignore[arg-type]
            consumer=f"w-{uuid.uuid4().hex[:6]}",
            concurrency=1,
        )
        thread = threading.Thread(target=pool.run, name="test-workers")
        thread.start()
        try:
            yield live, pool
        finally:
            pool.stop()
            thread.join(timeout=30)


def test_a_worker_commit_reaches_the_servers_websocket(
    split: tuple[LiveServer, WorkerPool],
) -> None:
    live, _pool = split
    token = live.user_headers()["Authorization"].split()[1]
    live.client.cookies.clear()
    with live.client.websocket_connect(f"/api/v1/ws/metrics?token={token}") as ws:
        assert ws.receive_json()["type"] == "hello"
        # The server subscribes as the app starts, in a thread: wait until Redis has it.
        channel = live_channel(live.server.settings.stream_prefix)
        client = redis_client()
        deadline = time.monotonic() + 5
        while dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) < 1:
            assert time.monotonic() < deadline, "the server never subscribed"
            time.sleep(0.05)
        client.close()
        t = datetime.now(UTC).replace(microsecond=0)
        # The test client's receive has no timeout: should nothing come over Redis, a point
        # put straight into the hub after 15 s ends the wait, and the assertions below fail.
        nothing = Headline(None, None, None, None)
        watchdog = threading.Timer(
            15, lambda: live.server.live.publish([LivePoint(1, 0, "timed-out", 0, nothing)])
        )
        started = time.monotonic()
        send(live, "far-host", [full_snapshot(t, 64.5)])
        watchdog.start()
        message = ws.receive_json()
        while message["type"] != "points":
            message = ws.receive_json()
        elapsed = time.monotonic() - started
        watchdog.cancel()
    [point] = message["points"]
    assert point["host"] == "far-host" and point["t"] == t.timestamp()
    assert point["cpu_percent"] == 64.5 and point["disk_percent"] == 75.0
    assert elapsed < 5.0, elapsed  # the worker polls the stream; then one PUBLISH
