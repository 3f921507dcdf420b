"""Host listings for the API, the dashboard and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, select

from fleetscope.store.engine import datetime_of_ms
from fleetscope.store.tables import hosts


@dataclass(frozen=True, slots=True)
class HostSummary:
    id: int
    name: str
    machine_id: str
    agent_version: str | None
    first_seen: datetime
    last_seen: datetime


_COLUMNS = (
    hosts.c.id,
    hosts.c.name,
    hosts.c.machine_id,
    hosts.c.agent_version,
    hosts.c.first_seen_ms,
    hosts.c.last_seen_ms,
)


class HostQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def list(self, tenant_id: int) -> list[HostSummary]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*_COLUMNS)
                .where(hosts.c.tenant_id == tenant_id)
                .order_by(hosts.c.name, hosts.c.id)
            ).all()
        return [_summary(row) for row in rows]

    def by_id(self, tenant_id: int, host_id: int) -> HostSummary | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_COLUMNS).where(hosts.c.tenant_id == tenant_id, hosts.c.id == host_id)
            ).first()
        return None if row is None else _summary(row)

    def by_name(self, tenant_id: int, name: str) -> HostSummary | None:
        """Hostnames are not unique keys (machine ids are): when two hosts share a name, the one
        seen most recently answers."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_COLUMNS)
                .where(hosts.c.tenant_id == tenant_id, hosts.c.name == name)
                .order_by(hosts.c.last_seen_ms.desc())
                .limit(1)
            ).first()
        return None if row is None else _summary(row)


def _summary(row: Row[Any, Any, Any, Any, Any, Any]) -> HostSummary:
    return HostSummary(
        id=row.id,
        name=row.name,
        machine_id=row.machine_id,
        agent_version=row.agent_version,
        first_seen=datetime_of_ms(row.first_seen_ms),
        last_seen=datetime_of_ms(row.last_seen_ms),
    )
