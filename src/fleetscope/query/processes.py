"""Top-N process groups over a time range, for the API, the dashboard and reports.

CPU is the growth of the group's cpu_seconds_total counter within the range (the counter
never goes down, model/payload.py ProcessGroup), memory the largest resident size seen. One
host's range reads the primary key (host_id, ts_ms, group_name); the fleet's reads
ix_process_groups_tenant_id_ts_ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, func, select

from fleetscope.store.tables import hosts, process_groups

TopBy = Literal["cpu", "memory"]


@dataclass(frozen=True, slots=True)
class GroupUsage:
    host_id: int
    host_name: str
    group_name: str
    cpu_seconds: float  # used within the range
    max_memory_bytes: int
    max_num_procs: int


class ProcessQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def top_groups(
        self,
        tenant_id: int,
        start_ms: int,
        end_ms: int,
        *,
        by: TopBy = "cpu",
        limit: int = 10,
        host_id: int | None = None,
    ) -> list[GroupUsage]:
        pg = process_groups.c
        cpu = (func.max(pg.cpu_seconds_total) - func.min(pg.cpu_seconds_total)).label("cpu")
        memory = func.max(pg.memory_bytes).label("memory")
        query = (
            select(pg.host_id, hosts.c.name, pg.group_name, cpu, memory, func.max(pg.num_procs))
            .join(hosts, hosts.c.id == pg.host_id)
            .where(pg.tenant_id == tenant_id, pg.ts_ms >= start_ms, pg.ts_ms <= end_ms)
            .group_by(pg.host_id, hosts.c.name, pg.group_name)
            .order_by((cpu if by == "cpu" else memory).desc(), pg.host_id, pg.group_name)
            .limit(limit)
        )
        if host_id is not None:
            query = query.where(pg.host_id == host_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [GroupUsage(r[0], r[1], r[2], float(r[3]), int(r[4]), int(r[5])) for r in rows]
