"""Consumer leases on the Redis stream (stream/redis_lease.py): what a dead consumer held is
taken over once its lease expires, what a live but slow one holds is not; a restarted consumer
takes back its own; consumers that hold nothing leave the group. A killed process is what it
leaves in Redis: entries pending for its consumer and a lease key that nobody refreshes (set
here with the raw client). Each test on its own key prefix, deleted afterwards."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from fleetscope.stream.base import NewMessage, StreamMessage, unique_consumer_name
from fleetscope.stream.redis import RedisStream
from tests.redis_support import REDIS_URL, redis_client


@pytest.fixture
def raw(redis_prefix: str) -> Iterator[redis.Redis]:
    client = redis_client()
    yield client
    client.close()


@pytest.fixture
def streams(redis_prefix: str) -> Iterator[list[RedisStream]]:
    opened: list[RedisStream] = []
    yield opened
    for stream in opened:
        stream.close()


def _open(opened: list[RedisStream], prefix: str, **options: object) -> RedisStream:
    stream = RedisStream.from_url(REDIS_URL, prefix=prefix, shards=2, **options)  # type: ignore[arg-type]
    opened.append(stream)
    return stream


def _enqueue(stream: RedisStream, n: int) -> None:
    stream.enqueue(
        [NewMessage("agent_payload", 1, f"body-{i}".encode(), f"h{i}") for i in range(n)]
    )


def _read_as_dead(raw: redis.Redis, prefix: str, consumer: str, lease_ms: int) -> list[bytes]:
    """What a process reading as consumer leaves when it is SIGKILLed: its entries pending
    and its last lease, which expires in lease_ms."""
    raw.set(f"{prefix}:lease:{consumer}", "killed", px=lease_ms)
    reply = raw.xreadgroup("digest", consumer, {f"{prefix}:stream:{s}": ">" for s in range(2)})
    return [fields[b"body"] for _, entries in reply for _, fields in entries]


def _consumers(raw: redis.Redis, prefix: str) -> set[str]:
    return {
        info["name"].decode()
        for shard in range(2)
        for info in raw.xinfo_consumers(f"{prefix}:stream:{shard}", "digest")
    }


def _read_until(
    stream: RedisStream, consumer: str, count: int, timeout: float
) -> tuple[list[StreamMessage], float]:
    """Read as consumer until `count` messages came; those and the seconds it took."""
    started = time.monotonic()
    got: list[StreamMessage] = []
    while len(got) < count:
        assert time.monotonic() - started < timeout, f"{len(got)} of {count} within {timeout} s"
        got += stream.read(consumer, 100, 0.05)
    return got, time.monotonic() - started


def test_a_dead_consumers_batch_is_taken_over_once_its_lease_expires(
    redis_prefix: str,
    raw: redis.Redis,
    streams: list[RedisStream],
    caplog: pytest.LogCaptureFixture,
) -> None:
    survivor = _open(streams, redis_prefix, lease_seconds=0.5, visibility_timeout_seconds=60)
    assert survivor.read("survivor", 10, 0) == []  # makes the groups
    _enqueue(survivor, 6)
    held = _read_as_dead(raw, redis_prefix, "dead", lease_ms=1500)
    assert len(held) == 6
    started = time.monotonic()
    assert survivor.read("survivor", 10, 0) == []  # its lease still runs
    with caplog.at_level(logging.INFO, logger="fleetscope.stream.redis_lease"):
        taken, _ = _read_until(survivor, "survivor", 6, timeout=10)
    waited = time.monotonic() - started
    assert 1.2 < waited < 1.5 + 1.0, waited  # after the lease, within a sweep or two
    assert sorted(m.body for m in taken) == sorted(held)
    assert {m.attempts for m in taken} == {2}
    assert "survivor took over 6 messages of dead, whose lease expired" in caplog.text
    survivor.ack([m.id for m in taken])
    assert survivor.depth() == 0
    # Nothing pending and no lease: the dead consumer leaves the group at a later sweep.
    deadline = time.monotonic() + 5
    while "dead" in _consumers(raw, redis_prefix):
        assert time.monotonic() < deadline, "the dead consumer stayed in the group"
        survivor.read("survivor", 10, 0.05)
    assert _consumers(raw, redis_prefix) == {"survivor"}


def test_a_slow_live_consumer_keeps_its_batch_past_many_leases(
    redis_prefix: str, streams: list[RedisStream]
) -> None:
    """The heartbeat, not the worker thread, refreshes the lease: a batch that takes eight
    leases to write is still its consumer's, and another consumer sweeping all along gets
    none of it."""
    slow = _open(streams, redis_prefix, lease_seconds=0.25, visibility_timeout_seconds=60)
    other = _open(streams, redis_prefix, lease_seconds=0.25, visibility_timeout_seconds=60)
    _enqueue(slow, 4)
    holding, done = threading.Event(), threading.Event()
    batch: list[StreamMessage] = []

    def work() -> None:
        batch.extend(slow.read("slow", 10, 0))
        holding.set()
        done.wait(10)  # the write in progress
        slow.ack([m.id for m in batch])

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert holding.wait(10) and len(batch) == 4
        started = time.monotonic()
        stolen: list[StreamMessage] = []
        while time.monotonic() - started < 2.0:
            stolen += other.read("other", 10, 0.05)
        assert stolen == []
    finally:
        done.set()
        worker.join(10)
    assert slow.depth() == 0


def test_a_consumer_whose_thread_ended_is_taken_over_without_waiting_for_its_lease(
    redis_prefix: str, streams: list[RedisStream]
) -> None:
    """A worker thread that died of an error beats no more for its consumer: the heartbeat
    deletes the lease, so others take over at once rather than after lease_seconds."""
    dying = _open(streams, redis_prefix, lease_seconds=6, visibility_timeout_seconds=60)
    other = _open(streams, redis_prefix, lease_seconds=6, visibility_timeout_seconds=60)
    _enqueue(dying, 3)
    thread = threading.Thread(target=lambda: dying.read("crashes", 10, 0))
    thread.start()
    thread.join(10)
    taken, seconds = _read_until(other, "other", 3, timeout=10)
    assert seconds < 4.5, seconds  # a beat (2 s) and a sweep (1 s), not the 6 s lease
    assert {m.attempts for m in taken} == {2}


def test_a_restarted_consumer_takes_back_what_is_pending_under_its_name(
    redis_prefix: str, raw: redis.Redis, streams: list[RedisStream]
) -> None:
    """`fleetscope worker --consumer w1` killed and restarted: the new process beats for w1's
    lease at once, so no other consumer would ever see the old one's entries expire; its first
    read takes them back."""
    stream = _open(streams, redis_prefix, lease_seconds=60, visibility_timeout_seconds=60)
    assert stream.read("setup", 1, 0) == []
    _enqueue(stream, 5)
    held = _read_as_dead(raw, redis_prefix, "w1", lease_ms=60_000)
    first = stream.read("w1", 3, 0)
    second = stream.read("w1", 10, 0)  # the rest of what was pending under its name
    assert sorted(m.body for m in first + second) == sorted(held)
    assert len(first) == 3 and {m.attempts for m in first + second} == {2}
    stream.ack([m.id for m in first + second])
    assert stream.read("w1", 10, 0) == []


def test_close_gives_up_the_leases_and_leaves_the_group(
    redis_prefix: str, raw: redis.Redis, streams: list[RedisStream]
) -> None:
    """A stopped process hands over at once what it could not finish (a drain that ran out
    of time), and its consumers that hold nothing leave the group."""
    leaving = _open(streams, redis_prefix, lease_seconds=30, visibility_timeout_seconds=60)
    staying = _open(streams, redis_prefix, lease_seconds=30, visibility_timeout_seconds=60)
    _enqueue(leaving, 4)
    unfinished = leaving.read("unfinished", 2, 0)
    finished = leaving.read("finished", 2, 0)
    leaving.ack([m.id for m in finished])
    assert raw.exists(f"{redis_prefix}:lease:unfinished", f"{redis_prefix}:lease:finished") == 2
    leaving.close()
    assert raw.exists(f"{redis_prefix}:lease:unfinished", f"{redis_prefix}:lease:finished") == 0
    assert _consumers(raw, redis_prefix) == {"unfinished"}
    taken, seconds = _read_until(staying, "staying", 2, timeout=5)
    assert sorted(m.body for m in taken) == sorted(m.body for m in unfinished)
    assert seconds < 1.5  # one sweep, not the 30 s lease


def test_the_lease_key_names_its_holder_and_expires(
    redis_prefix: str, raw: redis.Redis, streams: list[RedisStream]
) -> None:
    stream = _open(streams, redis_prefix, lease_seconds=2)
    stream.read("c", 1, 0)
    key = f"{redis_prefix}:lease:c"
    assert b"pid" in raw.get(key)
    assert 0 < raw.pttl(key) <= 2000


def test_consumer_names_are_unique_per_process_and_call() -> None:
    names = {unique_consumer_name() for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith(f"{socket.gethostname()}-{os.getpid()}-") for n in names)


def test_lease_seconds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        RedisStream(redis.Redis(), lease_seconds=0)
