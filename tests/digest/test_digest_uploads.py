"""Digest's side of a perfcollector upload (digest/uploads.py): the file is kept as a collection
file of the machine's collector once, however often the message is delivered, and a message the
database refuses is dead-lettered with the file still kept, its result `failed` and why."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fleetscope.agent.perfcollector import capture_snapshots
from fleetscope.digest.worker import DigestWorker
from fleetscope.ingest.perfcollector import capture_payloads
from fleetscope.model.codec import encode
from fleetscope.model.devices import UploadHeader, split_upload, upload_body
from fleetscope.model.kinds import PERFCOLLECTOR_UPLOAD
from fleetscope.store.collection_files import IngestResult, list_files, read_content
from fleetscope.store.collectors import collector_by_machine_id
from fleetscope.store.engine import make_engine, migrate
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import NewMessage
from fleetscope.stream.sqlite import SQLiteStream
from tests.perfcollector_capture import capture

_REFUSE = (
    "CREATE TRIGGER poison BEFORE INSERT ON hosts WHEN NEW.machine_id = 'refused' "
    "BEGIN SELECT RAISE(ABORT, 'host refused'); END"
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[SQLiteStream, sa.Engine]]:
    stream = SQLiteStream(tmp_path / "stream.db", visibility_timeout_seconds=60)
    engine = make_engine(f"sqlite:///{tmp_path / 'fleetscope.db'}")
    migrate(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(_REFUSE)
        conn.exec_driver_sql(
            "INSERT INTO tenants (name, created_ms) SELECT 't', 0"
            " WHERE NOT EXISTS (SELECT 1 FROM tenants)"
        )
    yield stream, engine
    stream.close()
    engine.dispose()


def _message(machine_id: str, data: bytes) -> NewMessage:
    sha = hashlib.sha256(data).hexdigest()
    payloads = capture_payloads(capture_snapshots(data, "f"), machine_id, sha)
    header = UploadHeader(
        machine_id=machine_id, content_sha256=sha, bytes=len(data), uploaded_by="k", received_ms=1
    )
    body = upload_body(header, data, [encode(p) for p in payloads])
    return NewMessage(PERFCOLLECTOR_UPLOAD, 1, body, key=machine_id)


def test_the_message_body_splits_back_into_its_parts() -> None:
    data = capture(2)
    header, content, lines = split_upload(_message("m1", data).body)
    assert header.machine_id == "m1" and content == data and len(lines) == 1
    with pytest.raises(ValueError, match="header"):
        split_upload(b"no newline")


def test_a_delivered_twice_upload_is_kept_once(store: tuple[SQLiteStream, sa.Engine]) -> None:
    stream, engine = store
    data = capture(2)
    worker = DigestWorker(stream, StoreWriter(engine), linger_seconds=0)
    for _ in range(2):
        stream.enqueue([_message("m1", data)])
        assert worker.run_once(block_seconds=0.1) == 1
    collector = collector_by_machine_id(engine, 1, "m1")
    assert collector is not None and collector.host_id is not None
    [kept] = list_files(engine, 1, collector.id)
    assert kept.result is IngestResult.INGESTED
    assert read_content(engine, 1, kept.id) == data
    # Linked to the collections record its samples became (one per content and tenant).
    with engine.connect() as conn:
        [(collection_id, snapshots)] = conn.execute(
            sa.text("SELECT id, snapshots FROM collections")
        ).all()
    assert (kept.collection_id, snapshots) == (collection_id, 2)


def test_a_refused_upload_is_kept_as_failed(store: tuple[SQLiteStream, sa.Engine]) -> None:
    stream, engine = store
    stream.enqueue([_message("refused", capture(2))])
    worker = DigestWorker(stream, StoreWriter(engine), linger_seconds=0)
    worker.run_once(block_seconds=0.1)
    assert stream.dead_letter_count() == 1
    collector = collector_by_machine_id(engine, 1, "refused")
    assert collector is not None
    [kept] = list_files(engine, 1, collector.id)
    assert kept.result is IngestResult.FAILED
    assert kept.detail is not None and "host refused" in kept.detail
    assert kept.collection_id is None  # nothing of it was stored
