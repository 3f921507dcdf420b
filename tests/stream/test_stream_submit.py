"""The embedded stream's awaitable enqueue (stream/sqlite.py submit, what ingest awaits on its
event loop): the future resolves once the message is committed, and a submitter that gave up
before the commit (future cancelled) has nothing written."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from pathlib import Path

from fleetscope.stream.base import NewMessage, Submits
from fleetscope.stream.sqlite import SQLiteStream


def _msg(n: int) -> NewMessage:
    return NewMessage("agent_payload", 1, f'{{"n": {n}}}'.encode())


def test_submit_resolves_after_commit_and_the_message_is_readable(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "stream.db")
    try:
        assert isinstance(stream, Submits)

        async def submit_two() -> list[list[str]]:
            futures = [asyncio.wrap_future(stream.submit([_msg(n)])) for n in (1, 2)]
            return list(await asyncio.gather(*futures))

        ids = asyncio.run(submit_two())
        assert [len(i) for i in ids] == [1, 1]
        # A second handle on the file sees both: they were committed before the futures resolved.
        other = SQLiteStream(tmp_path / "stream.db")
        try:
            got = other.read("c", 10, block_seconds=0)
        finally:
            other.close()
        assert sorted(m.body for m in got) == [b'{"n": 1}', b'{"n": 2}']
        assert sorted(m.id for m in got) == sorted(i for pair in ids for i in pair)
    finally:
        stream.close()


def test_a_cancelled_submit_is_not_written(tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "stream.db")
    try:
        given_up: Future[list[str]] = Future()
        assert given_up.cancel()
        kept: Future[list[str]] = Future()
        # The writer thread's step, on a group whose first submitter hung up.
        stream._commit_group([([_msg(1)], given_up), ([_msg(2)], kept)])
        assert len(kept.result(timeout=5)) == 1
        assert [m.body for m in stream.read("c", 10, block_seconds=0)] == [b'{"n": 2}']
        assert stream.depth() == 1
    finally:
        stream.close()
