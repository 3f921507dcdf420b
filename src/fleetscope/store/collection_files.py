"""Collection files as uploaded for a collector (issue 12): kept whole, listed with their upload
time, size and ingest result, and downloadable again byte for byte.

The file is stored in the database, zstd-compressed, like analyses keep their reports: every
server behind a load balancer can then serve it, and a backup of the database has it. What was
ingested from it is the `collections` row and the samples; collection_id links the two once
digest has made that row.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import zstandard
from sqlalchemy import Engine, Row, insert, select, update

from fleetscope.store.account_tables import collection_files, collectors
from fleetscope.store.engine import now_ms
from fleetscope.store.tables import collections
from fleetscope.store.transaction import Db, begin

ZSTD_LEVEL = 3  # as store/frames.py: JSON Lines shrink several times at little CPU
DETAIL_MAX = 4000  # an ingest error is kept this long at most


class IngestResult(StrEnum):
    ACCEPTED = "accepted"  # on the stream, not yet digested
    REJECTED = "rejected"  # refused at ingest (detail says why); nothing of it was stored
    INGESTED = "ingested"  # digested: its samples are stored
    FAILED = "failed"  # digest dead-lettered it (detail says why)


class UnknownCollectorError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class CollectionFile:
    """A file's record; its bytes come from read_content."""

    id: int
    tenant_id: int
    collector_id: int
    uploaded_ms: int
    uploaded_by: str
    size_bytes: int
    content_sha256: str
    result: IngestResult
    detail: str | None
    collection_id: int | None


_NAMES = [f.name for f in fields(CollectionFile)]
_COLUMNS = tuple(collection_files.c[name] for name in _NAMES)


class _Codecs(threading.local):
    """zstd contexts are not safe to share between threads (store/frames.py)."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_codecs = _Codecs()


def _file(row: Row[*tuple[Any, ...]]) -> CollectionFile:
    values = dict(row._mapping)
    values["result"] = IngestResult(values["result"])
    return CollectionFile(**values)


def _detail(detail: str | None) -> str | None:
    return None if detail is None else detail[:DETAIL_MAX]


def add_file(
    db: Db,
    tenant_id: int,
    collector_id: int,
    content: bytes,
    *,
    uploaded_by: str,
    result: IngestResult,
    detail: str | None = None,
    collection_id: int | None = None,
) -> CollectionFile:
    """Keep an uploaded file. UnknownCollectorError when the tenant has no such collector."""
    compressed = _codecs.compressor.compress(content)
    with begin(db) as conn:
        owner = conn.execute(
            select(collectors.c.id).where(
                collectors.c.id == collector_id, collectors.c.tenant_id == tenant_id
            )
        ).first()
        if owner is None:
            raise UnknownCollectorError(f"tenant {tenant_id} has no collector {collector_id}")
        row = conn.execute(
            insert(collection_files)
            .values(
                tenant_id=tenant_id,
                collector_id=collector_id,
                uploaded_ms=now_ms(),
                uploaded_by=uploaded_by,
                size_bytes=len(content),
                content_sha256=hashlib.sha256(content).hexdigest(),
                result=result.value,
                detail=_detail(detail),
                collection_id=collection_id,
                content=compressed,
            )
            .returning(*_COLUMNS)
        ).one()
    return _file(row)


def set_result(
    db: Db,
    tenant_id: int,
    file_id: int,
    result: IngestResult,
    *,
    detail: str | None = None,
    collection_id: int | None = None,
) -> bool:
    """Record what became of the file (digest's answer); collection_id is kept when None."""
    values: dict[str, object] = {"result": result.value, "detail": _detail(detail)}
    if collection_id is not None:
        values["collection_id"] = collection_id
    with begin(db) as conn:
        outcome = conn.execute(
            update(collection_files)
            .where(collection_files.c.id == file_id, collection_files.c.tenant_id == tenant_id)
            .values(**values)
        )
    return bool(outcome.rowcount)


def list_files(
    engine: Engine,
    tenant_id: int,
    collector_id: int | None = None,
    *,
    limit: int = 100,
    before_id: int | None = None,
) -> list[CollectionFile]:
    """The tenant's files (of one collector when given), newest first, `limit` at a time;
    before_id pages on from the last one seen."""
    query = select(*_COLUMNS).where(collection_files.c.tenant_id == tenant_id)
    if collector_id is not None:
        query = query.where(collection_files.c.collector_id == collector_id)
    if before_id is not None:
        query = query.where(collection_files.c.id < before_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(collection_files.c.id.desc()).limit(limit)).all()
    return [_file(row) for row in rows]


def get_file(engine: Engine, tenant_id: int, file_id: int) -> CollectionFile | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(*_COLUMNS).where(
                collection_files.c.id == file_id, collection_files.c.tenant_id == tenant_id
            )
        ).first()
    return None if row is None else _file(row)


def read_content(engine: Engine, tenant_id: int, file_id: int) -> bytes | None:
    """The file as it was uploaded, for a download; None when the tenant has no such file."""
    with engine.connect() as conn:
        blob = conn.execute(
            select(collection_files.c.content).where(
                collection_files.c.id == file_id, collection_files.c.tenant_id == tenant_id
            )
        ).scalar()
    return None if blob is None else _codecs.decompressor.decompress(bytes(blob))


def file_by_sha256(
    db: Db, tenant_id: int, collector_id: int, content_sha256: str
) -> CollectionFile | None:
    """The collector's file with this content, if it has one (the oldest): how digest keeps a
    replayed upload once."""
    with begin(db) as conn:
        row = conn.execute(
            select(*_COLUMNS)
            .where(
                collection_files.c.tenant_id == tenant_id,
                collection_files.c.collector_id == collector_id,
                collection_files.c.content_sha256 == content_sha256,
            )
            .order_by(collection_files.c.id)
            .limit(1)
        ).first()
    return None if row is None else _file(row)


def collection_id_of(db: Db, tenant_id: int, content_sha256: str) -> int | None:
    """The `collections` record digest made of this content for the tenant (one per
    content: store/writer.py), which a collection file of the same bytes links to."""
    with begin(db) as conn:
        found = conn.execute(
            select(collections.c.id).where(
                collections.c.tenant_id == tenant_id,
                collections.c.content_sha256 == content_sha256,
            )
        ).scalar()
    return None if found is None else int(found)
