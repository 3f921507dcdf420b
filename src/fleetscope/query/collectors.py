"""The collector registry's read and edit service (issue 12), shared by the REST routes
(web/routes/collectors.py) and whatever else lists collectors: a tenant's collectors, one by
id, created and edited, and the collection files uploaded for them with their bytes.

Every call takes the caller's tenant: an id of another tenant's collector or file is NotFound,
never its data."""

from __future__ import annotations

from typing import Unpack

from sqlalchemy import Engine

from fleetscope.model.auth import AuditAction
from fleetscope.store import audit
from fleetscope.store import collection_files as files
from fleetscope.store import collectors as registry
from fleetscope.store.collection_files import CollectionFile
from fleetscope.store.collectors import (
    Collector,
    CollectorChanges,
    CollectorDetails,
    DuplicateCollectorError,
)

__all__ = ["CollectionFile", "Collector", "CollectorQueries", "Duplicate", "NotFound"]

Duplicate = DuplicateCollectorError


class NotFound(LookupError):
    pass


class CollectorQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collectors(self, tenant_id: int, *, site: str | None = None) -> list[Collector]:
        return registry.list_collectors(self.engine, tenant_id, site=site)

    def get(self, tenant_id: int, collector_id: int) -> Collector:
        found = registry.get_collector(self.engine, tenant_id, collector_id)
        if found is None:
            raise NotFound(f"no collector with id {collector_id}")
        return found

    def create(
        self,
        tenant_id: int,
        actor: str,
        machine: str,
        *,
        address: str | None = None,
        **details: Unpack[CollectorDetails],
    ) -> Collector:
        """Duplicate when the tenant has that (site, machine); ValueError for a bad field.
        `actor` (the username) and the client's `address` go to the audit log."""
        with self.engine.begin() as conn:
            made = registry.create_collector(conn, tenant_id, machine, **details)
            audit.append(
                conn, tenant_id, actor, AuditAction.COLLECTOR_CREATED, f"collector {made.id}",
                detail={"machine": made.machine, "site": made.site}, address=address,
            )  # fmt: skip
        return made

    def update(
        self,
        tenant_id: int,
        actor: str,
        collector_id: int,
        *,
        address: str | None = None,
        **changes: Unpack[CollectorChanges],
    ) -> Collector:
        with self.engine.begin() as conn:
            found = registry.update_collector(conn, tenant_id, collector_id, **changes)
            if found is None:
                raise NotFound(f"no collector with id {collector_id}")
            audit.append(
                conn, tenant_id, actor, AuditAction.COLLECTOR_UPDATED, f"collector {found.id}",
                detail=dict(changes), address=address,
            )  # fmt: skip
        return found

    def files(
        self, tenant_id: int, collector_id: int, *, limit: int, before_id: int | None = None
    ) -> list[CollectionFile]:
        self.get(tenant_id, collector_id)
        return files.list_files(
            self.engine, tenant_id, collector_id, limit=limit, before_id=before_id
        )

    def file(self, tenant_id: int, collector_id: int, file_id: int) -> tuple[CollectionFile, bytes]:
        """The file's record and its bytes as uploaded."""
        found = files.get_file(self.engine, tenant_id, file_id)
        content = None if found is None else files.read_content(self.engine, tenant_id, file_id)
        if found is None or found.collector_id != collector_id or content is None:
            raise NotFound(f"collector {collector_id} has no file with id {file_id}")
        return found, content
