"""The audit log (issue 12): who created, revoked or changed what, and logins failed and
succeeded, per tenant, readable by its admins. Append-only: nothing here updates or deletes a
row. Actions are model/auth.py AuditAction values; detail is a small JSON object (never a
password or a key: callers pass names, ids and prefixes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from fleetscope.model.auth import AuditAction
from fleetscope.store.account_tables import audit_log
from fleetscope.store.engine import now_ms

ACTOR_MAX = 128
OBJECT_MAX = 256
ADDRESS_MAX = 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    tenant_id: int | None
    at_ms: int
    actor: str
    action: str  # an AuditAction value; kept as text so an older server reads newer rows
    object: str
    detail: dict[str, Any]
    address: str | None


def append(
    conn: Connection,
    tenant_id: int | None,
    actor: str,
    action: AuditAction,
    object: str = "",
    *,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
    at_ms: int | None = None,
) -> None:
    """Add an entry in the caller's transaction, the one that makes the change it records
    (store/transaction.py): both are committed, or neither."""
    conn.execute(
        insert(audit_log).values(
            tenant_id=tenant_id,
            at_ms=now_ms() if at_ms is None else at_ms,
            actor=actor[:ACTOR_MAX],
            action=action.value,
            object=object[:OBJECT_MAX],
            detail=None if not detail else json.dumps(detail, sort_keys=True, default=str),
            address=None if address is None else address[:ADDRESS_MAX],
        )
    )


def append_event(
    engine: Engine,
    tenant_id: int | None,
    actor: str,
    action: AuditAction,
    object: str = "",
    *,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
    at_ms: int | None = None,
) -> None:
    """Add an entry for an event that changes nothing else (a login failed or throttled), in
    a transaction of its own."""
    with engine.begin() as conn:
        append(conn, tenant_id, actor, action, object, detail=detail, address=address, at_ms=at_ms)


def list_entries(
    engine: Engine,
    tenant_id: int | None,
    *,
    limit: int = 100,
    before_id: int | None = None,
    action: AuditAction | None = None,
    actor: str | None = None,
) -> list[AuditEntry]:
    """A tenant's entries (tenant_id None: the entries of no tenant, for the superuser), newest
    first, `limit` at a time; before_id pages on from the last one seen."""
    query = select(audit_log).where(
        audit_log.c.tenant_id.is_(None) if tenant_id is None else audit_log.c.tenant_id == tenant_id
    )
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    if action is not None:
        query = query.where(audit_log.c.action == action.value)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit)).all()
    return [
        AuditEntry(
            row.id,
            row.tenant_id,
            row.at_ms,
            row.actor,
            row.action,
            row.object,
            {} if row.detail is None else json.loads(row.detail),
            row.address,
        )
        for row in rows
    ]
