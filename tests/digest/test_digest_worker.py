"""digest/worker.py: the linger (pause_after: below saturation run() waits after a batch that
was not full, so a trickle of payloads is written a batch at a time instead of one transaction
per payload; a full batch, a backlog, and an idle read wait for nothing more) and the count of
recomputed rollup buckets (/metrics fleetscope_rollup_buckets_total)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from fleetscope.digest.worker import DigestWorker
from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import NewMessage, StreamMessage
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import payload, payload_json


def test_pause_after_lingers_only_after_a_partial_batch(engine: Engine, tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "stream.db")
    try:
        worker = DigestWorker(stream, StoreWriter(engine), batch_size=8, linger_seconds=0.25)
        assert worker.pause_after(0) == 0.0  # idle: the read already blocked
        assert worker.pause_after(3) == 0.25
        assert worker.pause_after(8) == 0.0  # full: more are likely waiting
        assert DigestWorker(stream, StoreWriter(engine), linger_seconds=0).pause_after(3) == 0
    finally:
        stream.close()


class _Waits(threading.Event):
    """The worker's stop event, recording the pauses run() takes instead of sleeping them."""

    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        return self.is_set()


class _Reads(SQLiteStream):
    """Records the size of every batch read; stops the worker after `reads` reads."""

    def __init__(self, path: Path, reads: int) -> None:
        super().__init__(path)
        self.batches: list[int] = []
        self.reads = reads
        self.worker: DigestWorker | None = None

    def read(self, consumer: str, max_count: int, block_seconds: float) -> list[StreamMessage]:
        got = super().read(consumer, max_count, block_seconds=0)
        self.batches.append(len(got))
        if len(self.batches) >= self.reads and self.worker is not None:
            self.worker.stop()
        return got


def test_run_pauses_after_the_partial_batch_only(engine: Engine, tmp_path: Path) -> None:
    stream = _Reads(tmp_path / "stream.db", reads=3)
    try:
        worker = DigestWorker(stream, StoreWriter(engine), batch_size=8, linger_seconds=0.25)
        stream.worker = worker
        waits = _Waits()
        worker._stop = waits  # the seam where run() sleeps
        stream.enqueue(
            [
                NewMessage(AGENT_PAYLOAD, 1, payload_json(payload(1, machine_id=f"m-{i}")))
                for i in range(10)
            ]
        )
        worker.run()
        assert stream.batches == [8, 2, 0]  # full, partial, idle
        assert waits.pauses == [0.25]  # only after the partial one
        assert stream.depth() == 0
    finally:
        stream.close()


def test_rolled_up_buckets_are_counted(engine: Engine, tmp_path: Path) -> None:
    stream = SQLiteStream(tmp_path / "stream.db")
    try:
        counted: list[int] = []
        # A day long settled: the round after the write recomputes its minute, then its hour.
        old = payload(3, machine_id="m-1", start=datetime(2026, 1, 1, tzinfo=UTC))
        worker = DigestWorker(stream, StoreWriter(engine), on_rolled_up=counted.append)
        stream.enqueue([NewMessage(AGENT_PAYLOAD, 1, payload_json(old))])
        assert worker.run_once(block_seconds=0) == 1
        for _ in range(5):  # bounded: each round recomputes what settled before it
            worker.run_once(block_seconds=0)
        assert sum(counted) == worker.stats.buckets_rolled_up > 0
    finally:
        stream.close()
