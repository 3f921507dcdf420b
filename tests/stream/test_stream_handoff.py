"""The embedded stream's handoff (stream/sqlite.py): the decoded form a message was enqueued
with reaches the first claim of it in this process, and never anything else: not a second
claim, not a message beyond handoff_max, not after a rolled-back group, not from a stream
without handoff. The stored message is the same either way."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from fleetscope.stream.base import NewMessage, StreamUnavailable
from fleetscope.stream.sqlite import SQLiteStream


def _message(n: int, decoded: object | None) -> NewMessage:
    return NewMessage("agent_payload", 1, f"body-{n}".encode(), decoded=decoded)


def test_the_first_claim_gets_the_decoded_form_a_second_does_not(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db", visibility_timeout_seconds=0, handoff_max=10)
    try:
        forms = [object(), object(), None]
        stream.enqueue([_message(n, form) for n, form in enumerate(forms)])
        first = stream.read("c", 10, 0)
        assert [m.decoded for m in first] == forms
        assert [m.body for m in first] == [b"body-0", b"body-1", b"body-2"]
        again = stream.read("c", 10, 0)  # the visibility timeout (0) has passed
        assert [m.id for m in again] == [m.id for m in first]
        assert [m.decoded for m in again] == [None, None, None]
        assert [m.attempts for m in again] == [2, 2, 2]
        # decoded is not part of a message's identity
        assert dataclasses.replace(first[2], attempts=2) == again[2]
        assert dataclasses.replace(first[0], attempts=2) == again[0]
    finally:
        stream.close()


def test_beyond_handoff_max_messages_carry_none(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db", handoff_max=2)
    try:
        forms = [object() for _ in range(4)]
        stream.enqueue([_message(n, form) for n, form in enumerate(forms)])
        assert [m.decoded for m in stream.read("c", 2, 0)] == forms[:2]
        stream.enqueue([_message(9, forms[3])])  # the first two were claimed: room again
        assert [m.decoded for m in stream.read("c", 10, 0)] == [None, None, forms[3]]
    finally:
        stream.close()


def test_no_handoff_by_default(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "s.db")
    try:
        stream.enqueue([_message(0, object())])
        assert [m.decoded for m in stream.read("c", 10, 0)] == [None]
    finally:
        stream.close()


def test_a_rolled_back_group_hands_nothing_to_the_ids_reused_after_it(tmp_path: Path) -> None:
    """AUTOINCREMENT's counter is rolled back with the group, so the next message gets the id
    a failed one had: it must not receive that one's decoded form."""
    path = tmp_path / "s.db"
    stream = SQLiteStream(path, handoff_max=10)
    try:
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.body = x'626164'"
                " BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        lost = object()
        future = stream.submit([_message(0, lost), NewMessage("agent_payload", 1, b"bad")])
        try:
            future.result()
            raise AssertionError("the group should have failed")
        except StreamUnavailable:
            pass
        stream.enqueue([_message(1, None)])
        (message,) = stream.read("c", 10, 0)
        assert message.body == b"body-1" and message.decoded is None
    finally:
        stream.close()
