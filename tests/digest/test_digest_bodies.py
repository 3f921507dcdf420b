"""Digest of an agent payload kept in the stream as the agent's zstd body (stream/bodies.py):
the same rows as from its JSON, and the same stored frames through the worker; a body that
does not decompress is dead-lettered like any other bad message."""

from __future__ import annotations

from pathlib import Path

import zstandard
from sqlalchemy import Engine, func, select

from fleetscope.digest.transform import agent_payload_rows
from fleetscope.digest.worker import MAX_ATTEMPTS, DigestWorker
from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.store.tables import metric_frames
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import NewMessage
from fleetscope.stream.bodies import ZSTD_MAGIC
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import payload, payload_json


def test_a_zstd_body_gives_the_rows_of_its_json() -> None:
    body = payload_json(payload(4))
    compressed = zstandard.ZstdCompressor(level=3).compress(body)
    assert agent_payload_rows(7, compressed) == agent_payload_rows(7, body)


def test_the_worker_stores_zstd_bodies_and_dead_letters_a_broken_one(
    engine: Engine, tmp_path: Path
) -> None:
    stream = SQLiteStream(tmp_path / "stream.db")
    try:
        good = zstandard.ZstdCompressor().compress(payload_json(payload(3, machine_id="m-z")))
        broken = ZSTD_MAGIC + b"\xff" * 40
        stream.enqueue([NewMessage(AGENT_PAYLOAD, 1, good), NewMessage(AGENT_PAYLOAD, 1, broken)])
        worker = DigestWorker(stream, StoreWriter(engine), linger_seconds=0)
        for _ in range(MAX_ATTEMPTS):
            worker.run_once(block_seconds=0)
            stream.visibility_timeout = 0  # the broken one comes back at once
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(metric_frames)).scalar() == 3
        (dead,) = stream.dead_letters()
        assert dead.body == broken and "zstd body could not be decoded" in dead.error
        assert stream.depth() == 0
    finally:
        stream.close()
