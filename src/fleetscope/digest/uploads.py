"""What digest does after a batch's rows are committed and before it acknowledges them: keep
an uploaded perfcollector capture as a collection file of its machine's collector, and
register (or fill in) the collector of a machine whose agent sent an inventory.

Both are idempotent, so a replay (digest stopped after the commit, before the ack) changes
nothing: a file is kept once per (collector, content), and registration only fills in what
is still empty (store/collectors.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
from sqlalchemy import Engine

from fleetscope.digest.transform import UploadedFile
from fleetscope.model.auth import AuditAction
from fleetscope.model.inventory import InventorySection
from fleetscope.store import audit
from fleetscope.store.collection_files import (
    CollectionFile,
    IngestResult,
    add_file,
    collection_id_of,
    file_by_sha256,
    set_result,
)
from fleetscope.store.collectors import (
    MACHINE_MAX,
    Collector,
    DuplicateCollectorError,
    collector_by_machine_id,
    create_collector,
    register_from_inventory,
)
from fleetscope.store.writer import BatchRows

log = logging.getLogger(__name__)


def upload_collector(
    engine: Engine, tenant_id: int, machine_id: str, host_id: int | None
) -> Collector:
    """The collector with this machine id, registered under that name when it is new (an
    inventory or a person fills in the rest)."""
    found = collector_by_machine_id(engine, tenant_id, machine_id)
    if found is not None:
        return found
    try:
        return create_collector(
            engine, tenant_id, machine_id[:MACHINE_MAX], machine_id=machine_id, host_id=host_id
        )
    except DuplicateCollectorError:
        found = collector_by_machine_id(engine, tenant_id, machine_id)  # a racing first upload
        if found is None:
            raise
        return found


def keep_upload(
    engine: Engine,
    tenant_id: int,
    upload: UploadedFile,
    host_id: int | None,
    *,
    result: IngestResult = IngestResult.INGESTED,
    detail: str | None = None,
) -> CollectionFile:
    """Keep the file with its ingest result, linked to the `collections` record its samples
    were digested into (none when they were not); the same content again for the same
    collector only updates the result and the link."""
    header = upload.header
    collector = upload_collector(engine, tenant_id, header.machine_id, host_id)
    with engine.begin() as conn:
        collection_id = collection_id_of(conn, tenant_id, header.content_sha256)
        kept = file_by_sha256(conn, tenant_id, collector.id, header.content_sha256)
        if kept is not None:
            if kept.result is not result or (
                collection_id is not None and kept.collection_id != collection_id
            ):
                set_result(
                    conn, tenant_id, kept.id, result, detail=detail, collection_id=collection_id
                )
                kept = file_by_sha256(conn, tenant_id, collector.id, header.content_sha256)
                assert kept is not None
            return kept
        kept = add_file(
            conn,
            tenant_id,
            collector.id,
            upload.content,
            uploaded_by=header.uploaded_by,
            result=result,
            detail=detail,
            collection_id=collection_id,
        )
        audit.append(
            conn, tenant_id, header.uploaded_by, AuditAction.COLLECTION_FILE_UPLOADED,
            f"collection file {kept.id}",
            detail={"collector": collector.id, "bytes": kept.size_bytes, "result": result.value},
        )  # fmt: skip
    return kept


_inventory_decoder = msgspec.json.Decoder(InventorySection)


def register_inventories(
    engine: Engine, batches: Sequence[BatchRows], host_ids: Sequence[int | None]
) -> None:
    """A collector for every machine whose stored batch carried an inventory (the latest of
    the batch). A failure is logged: the registry catches up at the next inventory (at least
    daily), and the samples are stored already."""
    for batch, host_id in zip(batches, host_ids, strict=True):
        if not batch.inventory or host_id is None:
            continue
        latest = max(batch.inventory, key=lambda audit: audit.ts_ms)
        try:
            inventory = _inventory_decoder.decode(latest.audit_json)
            register_from_inventory(
                engine, batch.tenant_id, inventory, machine_id=batch.machine_id, host_id=host_id
            )
        except Exception:  # a registry bug must not hold up digest: the rows are committed
            log.exception("digest: no collector registered for %s", batch.machine_id)
