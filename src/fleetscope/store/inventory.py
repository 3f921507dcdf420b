"""Inventory: the latest audit of each host, upserted, and a history of what changed.

An audit is stored when it is newer than the host's stored one. When its content_sha256
differs, the history gets a row at the audit's time naming the dotted paths that changed. The
first audit of a host records no history (there is nothing it changed from); an identical audit
only moves updated_ms; an audit older than the stored one (a late replay) changes nothing, so
a replay stores nothing twice. History rows are keyed (host_id, ts_ms).
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, select

from fleetscope.store.sql import insert_for
from fleetscope.store.tables import inventory, inventory_history

SMALL_VALUE = 256  # old/new values are kept in the history when their JSON is this short


def inventory_changes(old: object, new: object, path: str = "") -> list[dict[str, object]]:
    """The dotted paths where two audits differ (`os.kernel`, `drives.0.size_bytes`, `gpus`
    when a list changed length), each with its old and new value when both are small;
    content_sha256 is left out."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[dict[str, object]] = []
        for key in sorted(old.keys() | new.keys()):
            if not path and key == "content_sha256":
                continue
            out.extend(inventory_changes(old.get(key), new.get(key), f"{path}{key}."))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(inventory_changes(a, b, f"{path}{index}."))
        return out
    if old == new:
        return []
    change: dict[str, object] = {"path": path.rstrip(".")}
    if len(json.dumps(old)) <= SMALL_VALUE and len(json.dumps(new)) <= SMALL_VALUE:
        change["old"], change["new"] = old, new
    return [change]


def upsert_inventory(
    conn: Connection, tenant_id: int, host_id: int, *, ts_ms: int, sha256: str, audit_json: str
) -> bool:
    """Store one audit; True when it changed the stored content."""
    current = conn.execute(
        select(inventory.c.content_sha256, inventory.c.audit, inventory.c.updated_ms).where(
            inventory.c.host_id == host_id
        )
    ).first()
    if current is not None and ts_ms <= current.updated_ms:
        return False  # a replay, or an audit older than the one stored
    stmt = insert_for(conn, inventory).values(
        host_id=host_id,
        tenant_id=tenant_id,
        content_sha256=sha256,
        audit=audit_json,
        updated_ms=ts_ms,
    )
    # The WHERE keeps a concurrent older write from overwriting a newer one.
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["host_id"],
            set_={
                "content_sha256": stmt.excluded.content_sha256,
                "audit": stmt.excluded.audit,
                "updated_ms": stmt.excluded.updated_ms,
            },
            where=stmt.excluded.updated_ms > inventory.c.updated_ms,
        )
    )
    if current is None or current.content_sha256 == sha256:
        return False
    changed = inventory_changes(json.loads(current.audit), json.loads(audit_json))
    conn.execute(
        insert_for(conn, inventory_history)
        .values(
            host_id=host_id,
            ts_ms=ts_ms,
            tenant_id=tenant_id,
            content_sha256=sha256,
            previous_sha256=current.content_sha256,
            changed=json.dumps(changed),
        )
        .on_conflict_do_nothing()
    )
    return True
