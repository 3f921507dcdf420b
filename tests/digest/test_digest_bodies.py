"""Digest of an agent payload kept in the stream as the agent's zstd body (stream/bodies.py):
the same rows as from its JSON, and the same stored frames through the worker; a body that
does not decompress is dead-lettered like any other bad message. A Payload handed over by the
stream (StreamMessage.decoded) gives the rows its body gives, and only for agent payloads."""

from __future__ import annotations

from pathlib import Path

import zstandard
from sqlalchemy import Engine, select

from fleetscope.digest.transform import agent_payload_rows, digest_message
from fleetscope.digest.worker import MAX_ATTEMPTS, DigestWorker
from fleetscope.model.codec import decode_payload
from fleetscope.model.kinds import AGENT_PAYLOAD, AGGREGATOR_METRICS
from fleetscope.store.chunks import decode_chunk
from fleetscope.store.frames import value_or_none
from fleetscope.store.tables import metric_frames
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import NewMessage
from fleetscope.stream.bodies import ZSTD_MAGIC, json_body
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import payload, payload_json
from tests.snapshots import count_snapshots


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
            assert count_snapshots(conn) == 3
        (dead,) = stream.dead_letters()
        assert dead.body == broken and "zstd body could not be decoded" in dead.error
        assert stream.depth() == 0
    finally:
        stream.close()


def test_a_handed_over_payload_gives_the_rows_of_its_body() -> None:
    body = zstandard.ZstdCompressor().compress(payload_json(payload(5)))
    decoded = decode_payload(json_body(body))
    assert digest_message(AGENT_PAYLOAD, 7, body, decoded) == digest_message(AGENT_PAYLOAD, 7, body)
    other = (
        b'{"metrics": [{"device_name": "sw-1", "metric_name": "temp", "value": 3.5,'
        b' "timestamp": "2026-01-01T00:00:00Z"}]}'
    )
    assert digest_message(AGGREGATOR_METRICS, 7, other, decoded) == digest_message(
        AGGREGATOR_METRICS, 7, other
    )


def test_the_worker_stores_the_same_frames_with_the_handoff(engine: Engine, tmp_path: Path) -> None:
    """Half the messages handed over, half decoded from their bodies: every frame stored
    once, with the values the bodies hold."""
    stream = SQLiteStream(tmp_path / "stream.db", handoff_max=100)
    try:
        sent = [payload(2, machine_id=f"m-{n}") for n in range(6)]
        stream.enqueue(
            [
                NewMessage(AGENT_PAYLOAD, 1, payload_json(p), decoded=p if n % 2 else None)
                for n, p in enumerate(sent)
            ]
        )
        worker = DigestWorker(stream, StoreWriter(engine), linger_seconds=0)
        assert worker.run_once(block_seconds=0) == 6
        expected = sorted(
            (frame.ts_ms, frame.values)
            for p in sent
            for frame in agent_payload_rows(1, payload_json(p)).frames
        )
        with engine.connect() as conn:
            stored = conn.execute(select(metric_frames.c.ts_ms, metric_frames.c.vals)).all()
        assert (
            sorted(
                (ts, tuple(value_or_none(v) for v in values))
                for ts_ms, vals in stored
                for ts, values in decode_chunk(ts_ms, vals)
            )
            == expected
        )
    finally:
        stream.close()
