"""The contract every agent spool backend passes (STYLE.md principle 11): SQLite on disk and
in memory. Then what only the SQLite spool promises: restarts keep batches and counters, and a
corrupt or truncated file is moved aside."""

from __future__ import annotations

import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetscope.agent.spool import (
    SPOOL_FILE,
    MemorySpool,
    SpoolError,
    SpoolLimits,
    SQLiteSpool,
)
from fleetscope.agent.spool.base import MAX_DEAD_LETTERS_KEPT, Spool
from fleetscope.agent.spool.sqlite import open_read_only, read_status

BIG = SpoolLimits(max_bytes=10**9, max_age_seconds=10**9)
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


Factory = Callable[[SpoolLimits], Spool]


@pytest.fixture(params=["sqlite", "memory"])
def make_spool(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Factory]:
    opened: list[Spool] = []

    def factory(limits: SpoolLimits = BIG) -> Spool:
        spool: Spool
        if request.param == "sqlite":
            spool = SQLiteSpool(tmp_path / SPOOL_FILE, limits, clock=clock)
        else:
            spool = MemorySpool(limits, clock=clock)
        opened.append(spool)
        return spool

    yield factory
    for spool in opened:
        spool.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def snap(i: int, size: int = 0) -> bytes:
    return f'{{"i":{i},"pad":"{"x" * size}"}}'.encode()


def fill(spool: Spool, n: int, start: int = 0, size: int = 0) -> None:
    for i in range(start, start + n):
        spool.append(T0 + i, snap(i, size))


def numbers(spool: Spool, count: int = 1000, size: int = 10**9) -> list[int]:
    batch = spool.take(count, size)
    return [] if batch is None else [int(e.snapshot_json[5:].split(b",")[0]) for e in batch.entries]


def test_batches_come_oldest_first_bounded_by_count_and_bytes(make_spool: Factory) -> None:
    spool = make_spool(BIG)
    assert spool.take(10, 10**6) is None
    fill(spool, 5)
    batch = spool.take(2, 10**6)
    assert batch is not None and [e.timestamp for e in batch.entries] == [T0, T0 + 1]
    assert batch.entries[0].snapshot_json == snap(0)
    spool.delivered(batch.batch_id)
    one = len(snap(0))
    assert numbers(spool, 10, 2 * one) == [2, 3]  # two fit in the byte bound, three do not
    spool.delivered(spool.take(10, 10**6).batch_id)  # type: ignore[union-attr]
    assert numbers(spool, 10, 1) == [4]  # one entry always goes, even over the byte bound
    status = spool.status()
    assert status.depth == 1 and status.appended_total == 5 and status.oldest_timestamp == T0 + 4


def test_the_batch_in_flight_keeps_its_id_and_members(make_spool: Factory) -> None:
    spool = make_spool(BIG)
    fill(spool, 3)
    first = spool.take(2, 10**6)
    fill(spool, 3, start=3)
    again = spool.take(100, 10**6)  # other bounds, more entries: still the same batch
    assert first is not None and again is not None
    assert again.batch_id == first.batch_id and again.entries == first.entries
    spool.delivered(first.batch_id)
    spool.delivered(first.batch_id)  # a second confirmation changes nothing
    nxt = spool.take(100, 10**6)
    assert nxt is not None and nxt.batch_id != first.batch_id
    assert [e.timestamp - T0 for e in nxt.entries] == [2, 3, 4, 5]
    assert spool.status().depth == 4 and spool.status().last_success_at == T0


def test_a_full_spool_drops_the_oldest_and_counts_them(make_spool: Factory) -> None:
    spool = make_spool(SpoolLimits(max_bytes=20_000, max_age_seconds=10**9))
    # Random-ish padding, so that compression cannot make everything fit.
    for i in range(100):
        spool.append(T0 + i, snap(i, 0)[:-2] + os.urandom(300).hex().encode() + b'"}')
    status = spool.status()
    assert 0 < status.depth < 100 and status.stored_bytes <= 20_000
    assert status.dropped_total == 100 - status.depth and status.appended_total == 100
    assert status.oldest_timestamp == T0 + status.dropped_total  # the newest are kept
    kept = numbers(spool)
    assert kept == list(range(status.dropped_total, 100))


def test_old_entries_are_dropped_by_age_and_counted(make_spool: Factory, clock: Clock) -> None:
    spool = make_spool(SpoolLimits(max_bytes=10**9, max_age_seconds=100))
    fill(spool, 10)  # T0 .. T0+9
    clock.now = T0 + 105
    spool.append(clock.now, snap(99))
    status = spool.status()
    assert status.dropped_total == 5 and status.depth == 6
    assert status.oldest_age_seconds(clock.now) == 100
    assert numbers(spool) == [5, 6, 7, 8, 9, 99]


def test_dropping_reaches_into_the_batch_in_flight(make_spool: Factory, clock: Clock) -> None:
    spool = make_spool(SpoolLimits(max_bytes=10**9, max_age_seconds=100))
    fill(spool, 4)
    first = spool.take(3, 10**6)
    assert first is not None
    clock.now = T0 + 101.5  # T0 and T0+1 are now too old
    spool.append(clock.now, snap(50))
    shrunk = spool.take(3, 10**6)
    assert shrunk is not None and shrunk.batch_id == first.batch_id
    assert [e.timestamp - T0 for e in shrunk.entries] == [2]
    clock.now = T0 + 200  # all of it
    spool.append(clock.now, snap(60))
    fresh = spool.take(3, 10**6)
    assert fresh is not None and fresh.batch_id != first.batch_id
    assert [e.timestamp - T0 for e in fresh.entries] == [101.5, 200]
    assert spool.status().dropped_total == 4


def test_rejected_batches_become_dead_letters(make_spool: Factory) -> None:
    spool = make_spool(BIG)
    fill(spool, 3)
    batch = spool.take(2, 10**6)
    assert batch is not None
    spool.dead_letter(batch.batch_id, 422, "snapshots.0.timestamp: Field required")
    spool.dead_letter(uuid.uuid4(), 400, "not ours: ignored")
    (dead,) = spool.dead_letters()
    assert (dead.batch_id, dead.snapshots, dead.status_code) == (batch.batch_id, 2, 422)
    assert "Field required" in dead.message
    status = spool.status()
    assert status.dead_letters_total == 2 and status.depth == 1 and status.dropped_total == 0
    assert numbers(spool) == [2]


def test_dead_letters_kept_are_bounded(make_spool: Factory, clock: Clock) -> None:
    spool = make_spool(BIG)
    for i in range(MAX_DEAD_LETTERS_KEPT + 5):
        clock.now = T0 + i
        spool.append(T0 + i, snap(i))
        batch = spool.take(1, 10**6)
        assert batch is not None
        spool.dead_letter(batch.batch_id, 413, f"too big {i}")
    kept = spool.dead_letters(limit=10**6)
    assert len(kept) == MAX_DEAD_LETTERS_KEPT and kept[0].message == f"too big {i}"
    assert spool.status().dead_letters_total == MAX_DEAD_LETTERS_KEPT + 5


def test_the_last_error_is_remembered(make_spool: Factory, clock: Clock) -> None:
    spool = make_spool(BIG)
    assert spool.status().last_error is None and spool.status().last_success_at is None
    clock.now = T0 + 7
    spool.record_error("network: ConnectionRefusedError")
    status = spool.status()
    assert status.last_error == "network: ConnectionRefusedError"
    assert status.last_error_at == T0 + 7


# -- what only the SQLite spool promises ---------------------------------------------------


def test_a_restart_keeps_the_batch_its_id_and_the_counters(tmp_path: Path) -> None:
    path = tmp_path / SPOOL_FILE
    clock = Clock()
    spool = SQLiteSpool(path, SpoolLimits(max_bytes=10**9, max_age_seconds=50), clock=clock)
    fill(spool, 4)
    batch = spool.take(2, 10**6)
    assert batch is not None
    clock.now = T0 + 52
    spool.append(clock.now, snap(9))  # drops T0, T0+1 (the batch) ... and keeps T0+2 onwards
    spool.record_error("503: busy")
    spool.close()
    again = SQLiteSpool(path, SpoolLimits(max_bytes=10**9, max_age_seconds=50), clock=clock)
    status = again.status()
    assert (status.depth, status.appended_total, status.dropped_total) == (3, 5, 2)
    assert status.last_error == "503: busy"
    fresh = again.take(2, 10**6)
    assert fresh is not None and fresh.batch_id != batch.batch_id
    again.close()
    third = SQLiteSpool(path, BIG, clock=clock)
    assert third.take(100, 10**6) == fresh  # the same id and members after a restart
    third.close()


def test_status_reads_beside_a_running_spool_without_changing_it(tmp_path: Path) -> None:
    spool = SQLiteSpool(tmp_path / SPOOL_FILE, BIG)
    fill(spool, 3)
    conn = open_read_only(tmp_path / SPOOL_FILE)
    assert read_status(conn).depth == 3
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM entries")
    conn.close()
    spool.close()
    with pytest.raises(SpoolError, match="no spool at"):
        open_read_only(tmp_path / "elsewhere" / SPOOL_FILE)


def _corrupt_then_open(
    path: Path, damage: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> SQLiteSpool:
    spool = SQLiteSpool(path, BIG)
    fill(spool, 200, size=2000)
    spool.close()
    damage(path)
    with caplog.at_level(logging.WARNING):
        return SQLiteSpool(path, BIG)


def _check_moved_aside(path: Path, spool: SQLiteSpool, caplog: pytest.LogCaptureFixture) -> None:
    (aside,) = spool.quarantined
    assert aside.name.startswith(f"{SPOOL_FILE}.corrupt-") and aside.is_file()
    assert str(path) in caplog.text and str(aside) in caplog.text
    assert "corrupt or truncated" in caplog.text
    assert spool.status().depth == 0  # a fresh spool, and it works
    fill(spool, 2)
    assert numbers(spool) == [0, 1]
    spool.close()


def test_a_truncated_spool_file_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / SPOOL_FILE

    def truncate(p: Path) -> None:
        with open(p, "r+b") as handle:
            handle.truncate(p.stat().st_size // 2)

    spool = _corrupt_then_open(path, truncate, caplog)
    _check_moved_aside(path, spool, caplog)


def test_a_spool_file_of_garbage_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / SPOOL_FILE

    def garbage(p: Path) -> None:
        p.write_bytes(os.urandom(64 * 1024))
        p.with_name(p.name + "-wal").write_bytes(os.urandom(4096))  # and a WAL of it

    spool = _corrupt_then_open(path, garbage, caplog)
    _check_moved_aside(path, spool, caplog)
