"""Top-N process groups over a time range, for the API, the dashboard and reports.

CPU is the growth of each group's cpu_seconds_total counter within the range, summed from
consecutive samples with a LAG window function (SQLite >= 3.25 and PostgreSQL both have it).
A group's counter goes down when a process of the group exits or the agent restarts: a
negative step is taken as a reset and the new value counts from zero, as Prometheus' rate()
does. The first sample of a group in the range has nothing before it and adds nothing.
Memory is the group's resident size: its average and its largest value over the range.

One host's range reads the primary key (host_id, ts_ms, group_name); the fleet's reads
ix_process_groups_tenant_id_ts_ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, Float, case, cast, func, select

from fleetscope.store.tables import hosts, process_groups

TopBy = Literal["cpu", "memory"]


@dataclass(frozen=True, slots=True)
class GroupUsage:
    host_id: int
    host_name: str
    group_name: str
    cpu_seconds: float  # CPU time used within the range, across counter resets
    avg_memory_bytes: float
    max_memory_bytes: int
    max_num_procs: int
    samples: int


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
        """The `limit` groups that used the most CPU time (by="cpu") or the most resident
        memory on average (by="memory") between start_ms and end_ms, both inclusive."""
        pg = process_groups.c
        in_range = select(
            pg.host_id,
            pg.group_name,
            pg.memory_bytes,
            pg.num_procs,
            pg.cpu_seconds_total.label("counter"),
            func.lag(pg.cpu_seconds_total)
            .over(partition_by=(pg.host_id, pg.group_name), order_by=pg.ts_ms)
            .label("previous"),
        ).where(pg.tenant_id == tenant_id, pg.ts_ms >= start_ms, pg.ts_ms <= end_ms)
        if host_id is not None:
            in_range = in_range.where(pg.host_id == host_id)
        s = in_range.subquery("s")
        step = case(
            (s.c.previous.is_(None), 0.0),
            (s.c.counter < s.c.previous, s.c.counter),  # a reset: counted from zero
            else_=s.c.counter - s.c.previous,
        )
        cpu = func.sum(step).label("cpu")
        # CAST: PostgreSQL's avg(bigint) is numeric; float is what the API speaks.
        avg_memory = func.avg(cast(s.c.memory_bytes, Float)).label("avg_memory")
        query = (
            select(
                s.c.host_id,
                hosts.c.name,
                s.c.group_name,
                cpu,
                avg_memory,
                func.max(s.c.memory_bytes),
                func.max(s.c.num_procs),
                func.count(),
            )
            .join(hosts, hosts.c.id == s.c.host_id)
            .group_by(s.c.host_id, hosts.c.name, s.c.group_name)
            .order_by((cpu if by == "cpu" else avg_memory).desc(), s.c.host_id, s.c.group_name)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            GroupUsage(
                host_id=r[0],
                host_name=r[1],
                group_name=r[2],
                cpu_seconds=float(r[3]),
                avg_memory_bytes=float(r[4]),
                max_memory_bytes=int(r[5]),
                max_num_procs=int(r[6]),
                samples=int(r[7]),
            )
            for r in rows
        ]
