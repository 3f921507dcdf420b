"""The contract every stream backend passes (STYLE.md principle 11): the embedded SQLite
stream, and Redis Streams (skipped when no Redis answers, a failure under CI=true; each test
on a key prefix of its own, deleted afterwards)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetscope.stream.base import NewMessage, Stream, StreamBacklogFull, StreamUnavailable
from fleetscope.stream.redis import RedisStream
from fleetscope.stream.sqlite import SQLiteStream
from tests.redis_support import REDIS_URL

Factory = Callable[..., Stream]


@pytest.fixture(params=["sqlite", "redis"])
def make_stream(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    opened: list[Stream] = []
    prefix = ""
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")

    def factory(visibility_timeout: float = 30.0, max_backlog: int = 100_000) -> Stream:
        stream: Stream
        if request.param == "sqlite":
            stream = SQLiteStream(
                tmp_path / "stream.db",
                visibility_timeout_seconds=visibility_timeout,
                max_backlog=max_backlog,
                retry_after_seconds=7,
            )
        else:
            # Three shards, so reads that span shards are part of the contract run.
            stream = RedisStream.from_url(
                REDIS_URL,
                prefix=prefix,
                shards=3,
                visibility_timeout_seconds=visibility_timeout,
                max_backlog=max_backlog,
                retry_after_seconds=7,
            )
        opened.append(stream)
        return stream

    yield factory
    for stream in opened:
        stream.close()


def _msg(i: int, tenant: int = 1, key: str | None = None) -> NewMessage:
    return NewMessage("agent_payload", tenant, f"body-{i}".encode(), key)


def test_messages_come_out_in_order_once(make_stream: Factory) -> None:
    stream = make_stream(30.0)
    stream.enqueue([_msg(i) for i in range(5)])
    first = stream.read("c1", 3, 0)
    second = stream.read("c2", 10, 0)
    assert [m.body for m in first] == [b"body-0", b"body-1", b"body-2"]
    assert [m.body for m in second] == [b"body-3", b"body-4"]
    assert stream.read("c3", 10, 0) == []
    assert stream.depth() == 5
    stream.ack([m.id for m in first + second])
    assert stream.depth() == 0
    assert stream.oldest_age_seconds() is None


def test_unacknowledged_messages_are_redelivered(make_stream: Factory) -> None:
    stream = make_stream(0.2)
    stream.enqueue([_msg(1)])
    taken = stream.read("dies", 10, 0)
    assert stream.read("other", 10, 0) == []
    time.sleep(0.3)
    again = stream.read("other", 10, 0)
    assert [m.body for m in again] == [b"body-1"]
    assert again[0].attempts == taken[0].attempts + 1


def test_failures_dead_letter_after_max_attempts(make_stream: Factory) -> None:
    stream = make_stream(30.0)
    stream.enqueue([_msg(1)])
    for attempt in range(1, 4):
        (message,) = stream.read("c", 1, 0)
        dead = stream.fail(message.id, f"boom {attempt}", max_attempts=3)
        assert dead == (attempt == 3)
    assert stream.depth() == 0
    (letter,) = stream.dead_letters()
    assert letter.body == b"body-1" and letter.error == "boom 3"


def test_accepted_messages_survive_reopening(make_stream: Factory) -> None:
    stream = make_stream(30.0)
    stream.enqueue([_msg(1), _msg(2)])
    stream.close()
    reopened = make_stream(30.0)
    assert [m.body for m in reopened.read("c", 10, 0)] == [b"body-1", b"body-2"]


def test_concurrent_enqueues_all_land(make_stream: Factory) -> None:
    stream = make_stream(30.0)
    threads = [
        threading.Thread(
            target=lambda k=k: [stream.enqueue([_msg(k * 100 + i)]) for i in range(25)]
        )
        for k in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bodies = [m.body for m in stream.read("c", 1000, 0)]
    assert len(bodies) == len(set(bodies)) == 200


def test_read_waits_for_new_messages(make_stream: Factory) -> None:
    stream = make_stream(30.0)
    timer = threading.Timer(0.1, lambda: stream.enqueue([_msg(7)]))
    timer.start()
    started = time.monotonic()
    got = stream.read("c", 10, block_seconds=5)
    timer.join()  # the enqueue may still be reading its reply; closing under it is not the test
    assert [m.body for m in got] == [b"body-7"]
    assert time.monotonic() - started < 4


def test_closed_stream_refuses_enqueue(make_stream: Factory) -> None:
    stream = make_stream(30.0)
    stream.close()
    with pytest.raises(StreamUnavailable):
        stream.enqueue([_msg(1)])


def test_many_keys_each_come_out_once_and_in_order(make_stream: Factory) -> None:
    stream = make_stream(30.0)
    stream.enqueue([_msg(i, key=f"host-{i % 7}") for i in range(30)])
    seen: list[bytes] = []
    for turn in range(30):
        batch = stream.read(f"c{turn % 2}", 4, 0)
        assert len(batch) <= 4
        if not batch:
            break
        seen += [m.body for m in batch]
        stream.ack([m.id for m in batch])
    assert sorted(seen) == sorted(f"body-{i}".encode() for i in range(30))
    assert len(seen) == 30
    for host in range(7):
        mine = [b for b in seen if int(b.split(b"-")[1]) % 7 == host]
        assert mine == sorted(mine, key=lambda b: int(b.split(b"-")[1]))
    assert stream.depth() == 0


def test_a_full_backlog_refuses_until_digest_catches_up(make_stream: Factory) -> None:
    stream = make_stream(30.0, max_backlog=3)
    stream.enqueue([_msg(1), _msg(2)])
    with pytest.raises(StreamBacklogFull) as full:
        stream.enqueue([_msg(3), _msg(4)])  # would make 4: refused whole
    assert full.value.retry_after_seconds == 7
    assert "limit 3" in str(full.value)
    stream.enqueue([_msg(3)])
    with pytest.raises(StreamBacklogFull):
        stream.enqueue([_msg(4)])
    taken = stream.read("c", 2, 0)
    with pytest.raises(StreamBacklogFull):  # read but not acknowledged: still waiting
        stream.enqueue([_msg(4)])
    stream.ack([m.id for m in taken])
    stream.enqueue([_msg(4), _msg(5)])
    assert stream.depth() == 3
    (message,) = stream.read("c", 1, 0)
    assert stream.fail(message.id, "bad", max_attempts=1)  # a dead letter leaves the backlog
    stream.enqueue([_msg(6)])
    assert sorted(m.body for m in stream.read("c", 10, 0)) == [b"body-4", b"body-5", b"body-6"]


def test_sqlite_backlog_counts_bytes_and_what_was_there_at_open(tmp_path: Path) -> None:
    path = tmp_path / "stream.db"
    first = SQLiteStream(path, max_backlog_bytes=100)
    first.enqueue([NewMessage("agent_payload", 1, b"x" * 60)])
    with pytest.raises(StreamBacklogFull, match="60 bytes wait for digest"):
        first.enqueue([NewMessage("agent_payload", 1, b"y" * 41)])
    first.enqueue([NewMessage("agent_payload", 1, b"y" * 40)])
    first.close()
    reopened = SQLiteStream(path, max_backlog=2)  # the two messages still there count
    with pytest.raises(StreamBacklogFull, match="2 messages wait"):
        reopened.enqueue([_msg(1)])
    reopened.ack([m.id for m in reopened.read("c", 10, 0)])
    reopened.enqueue([_msg(1), _msg(2)])
    reopened.close()
