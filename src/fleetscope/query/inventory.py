"""A host's stored inventory: the latest audit and the history of what changed
(store/inventory.py writes both)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from fleetscope.store.engine import datetime_of_ms
from fleetscope.store.tables import inventory, inventory_history


@dataclass(frozen=True, slots=True)
class LatestInventory:
    updated_at: datetime  # the time of the snapshot that carried the audit
    content_sha256: str
    audit: dict[str, Any]  # model.payload.InventorySection as JSON


@dataclass(frozen=True, slots=True)
class InventoryChange:
    path: str  # dotted: os.kernel, drives.0.size_bytes
    old: Any
    new: Any
    values_kept: bool  # False when old/new were too large to keep (store/inventory.py)


@dataclass(frozen=True, slots=True)
class InventoryRevision:
    at: datetime
    content_sha256: str
    previous_sha256: str
    changes: list[InventoryChange]


class InventoryQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def latest(self, tenant_id: int, host_id: int) -> LatestInventory | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(inventory.c.updated_ms, inventory.c.content_sha256, inventory.c.audit).where(
                    inventory.c.tenant_id == tenant_id, inventory.c.host_id == host_id
                )
            ).first()
        if row is None:
            return None
        return LatestInventory(
            datetime_of_ms(row.updated_ms), row.content_sha256, json.loads(row.audit)
        )

    def history(self, tenant_id: int, host_id: int, limit: int = 100) -> list[InventoryRevision]:
        """Newest first."""
        h = inventory_history.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(h.ts_ms, h.content_sha256, h.previous_sha256, h.changed)
                .where(h.tenant_id == tenant_id, h.host_id == host_id)
                .order_by(h.ts_ms.desc())
                .limit(limit)
            ).all()
        return [
            InventoryRevision(
                at=datetime_of_ms(r.ts_ms),
                content_sha256=r.content_sha256,
                previous_sha256=r.previous_sha256,
                changes=[
                    InventoryChange(c["path"], c.get("old"), c.get("new"), "old" in c)
                    for c in json.loads(r.changed)
                ],
            )
            for r in rows
        ]
