"""The embedded stream's backpressure: with soft_backlog, a commit waits while digest is that
many messages behind (at most backpressure_max_wait_seconds), then goes on."""

from __future__ import annotations

from concurrent.futures import wait
from pathlib import Path

from fleetscope.stream.base import NewMessage
from fleetscope.stream.sqlite import SQLiteStream


def message(n: int) -> NewMessage:
    return NewMessage("agent_payload", 1, f"body {n}".encode())


def test_a_commit_waits_for_digest_then_goes_on(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db", soft_backlog=2, backpressure_max_wait_seconds=600)
    stream.enqueue([message(1)])
    stream.enqueue([message(2)])  # the backlog reaches soft_backlog
    waiting = stream.submit([message(3)])
    done, _ = wait([waiting], timeout=0.3)
    assert not done  # not committed while digest is behind
    assert stream.depth() == 2
    (first,) = stream.read("digest", 1, 0)
    stream.ack([first.id])
    assert waiting.result(timeout=30)  # committed once the backlog shrank
    assert stream.depth() == 2
    stream.close()


def test_the_wait_is_bounded(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db", soft_backlog=1, backpressure_max_wait_seconds=0.05)
    stream.enqueue([message(1)])
    for n in range(2, 5):  # no digest at all: each commit still happens after the wait
        stream.enqueue([message(n)])
    assert stream.depth() == 4
    stream.close()


def test_close_ends_the_wait(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db", soft_backlog=1, backpressure_max_wait_seconds=600)
    stream.enqueue([message(1)])
    waiting = stream.submit([message(2)])
    stream.close()  # returns without waiting out the 600 s; what was submitted is committed
    assert waiting.result(timeout=30)
    reopened = SQLiteStream(tmp_path / "s.db")
    assert reopened.depth() == 2
    reopened.close()


def test_no_backpressure_by_default(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db")
    stream.enqueue([message(n) for n in range(3)])
    assert stream.enqueue([message(4)])
    assert stream.depth() == 4
    stream.close()
