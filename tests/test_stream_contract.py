"""The contract every stream backend passes (STYLE.md principle 11). Backends: the embedded
SQLite stream now; the Redis/Valkey backend joins this parametrization."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetscope.stream.base import NewMessage, Stream, StreamUnavailable
from fleetscope.stream.sqlite import SQLiteStream

Factory = Callable[[float], Stream]


@pytest.fixture(params=["sqlite"])
def make_stream(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    opened: list[Stream] = []

    def factory(visibility_timeout: float = 30.0) -> Stream:
        stream = SQLiteStream(tmp_path / "stream.db", visibility_timeout_seconds=visibility_timeout)
        opened.append(stream)
        return stream

    yield factory
    for stream in opened:
        stream.close()


def _msg(i: int, tenant: int = 1) -> NewMessage:
    return NewMessage("agent_payload", tenant, f"body-{i}".encode())


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
    threading.Timer(0.1, lambda: stream.enqueue([_msg(7)])).start()
    started = time.monotonic()
    got = stream.read("c", 10, block_seconds=5)
    assert [m.body for m in got] == [b"body-7"]
    assert time.monotonic() - started < 4


def test_closed_stream_refuses_enqueue(make_stream: Factory) -> None:
    stream = make_stream(30.0)
    stream.close()
    with pytest.raises(StreamUnavailable):
        stream.enqueue([_msg(1)])
