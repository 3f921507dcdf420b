"""Top-N process groups over a time range, for the API, the dashboard and reports.

CPU is the growth of each group's cpu_seconds_total counter within the range, summed from
consecutive samples with a LAG window function (SQLite >= 3.25 and PostgreSQL both have it).
A group's counter goes down when a process of the group exits or the agent restarts: a
negative step is taken as a reset and the new value counts from zero, as Prometheus' rate()
does (store/rollups.py counter_step). The first sample of a group in the range has nothing
before it and adds nothing. Memory is the group's resident size: its average and its largest
value over the range.

Two ways, one result. top_groups_raw reads every raw row of the range. top_groups reads the
whole hours of the range that the rollup step has already summed up from
process_group_rollups_1h (one row per host, hour and group: samples, memory sum and max, the
counter's first and last value and its within-hour increase), and only the partial hours at
the range's edges, and the hours not rolled up yet, raw. It runs the same LAG over the union
of both, where a raw row is a part whose first and last value are its counter and whose
within-hour increase is 0: the step between consecutive parts (sample to sample, sample to
hour, hour to hour) follows the same reset rule, so the sum equals the raw one. An hour
counts as rolled up when it starts before the earliest dirty mark (minute or hour) of the
host, or for the fleet, of the tenant: the writer marks every minute it stores process groups
in, and the mark reaches the hour and is cleared in the transaction that rewrites its rollup.

One host's range reads the primary keys (host_id, ts_ms | bucket_ms, group_name); the fleet's
reads the (tenant_id, ts_ms | bucket_ms) indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    Engine,
    Float,
    Integer,
    case,
    cast,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.sql import Select

from fleetscope.store.rollup_math import HOUR_MS, MINUTE_MS
from fleetscope.store.tables import (
    hosts,
    process_group_rollups_1h,
    process_groups,
    rollup_dirty,
)

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
    # The group's first and last sample in the range: cpu_seconds is what it used between them.
    first_ts_ms: int
    last_ts_ms: int

    @property
    def covered_seconds(self) -> float:
        return (self.last_ts_ms - self.first_ts_ms) / 1000

    @property
    def cpu_cores(self) -> float | None:
        """CPU time over the span the group's data covers, not over the range asked: a group
        seen for one minute of an hour used its cores in that minute. None for one sample."""
        span = self.covered_seconds
        return self.cpu_seconds / span if span > 0 else None

    @property
    def cpu_percent(self) -> float | None:
        """cpu_cores in percent of one core, as top shows it (above 100 for more than one)."""
        cores = self.cpu_cores
        return None if cores is None else 100 * cores


def _step(counter: Any, previous: Any) -> Any:
    """counter_step in SQL: 0 for a group's first part, a reset counted from zero."""
    return case(
        (previous.is_(None), 0.0),
        (counter < previous, counter),
        else_=counter - previous,
    )


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
        memory on average (by="memory") between start_ms and end_ms, both inclusive: from the
        hourly rollup where it covers whole hours of the range, else raw (module doc)."""
        first_hour = -(-start_ms // HOUR_MS) * HOUR_MS
        past_hours = (end_ms + 1) // HOUR_MS * HOUR_MS
        if past_hours - first_hour < HOUR_MS:
            return self.top_groups_raw(
                tenant_id, start_ms, end_ms, by=by, limit=limit, host_id=host_id
            )
        rd = rollup_dirty.c
        dirty = select(func.min(rd.bucket_ms)).where(rd.step_ms.in_((MINUTE_MS, HOUR_MS)))
        dirty = dirty.where(rd.tenant_id == tenant_id if host_id is None else rd.host_id == host_id)
        with self.engine.connect() as conn:
            earliest = conn.execute(dirty).scalar()
            if earliest is not None:
                past_hours = min(past_hours, int(earliest) // HOUR_MS * HOUR_MS)
            if past_hours - first_hour < HOUR_MS:
                rows = conn.execute(
                    self._raw_query(tenant_id, start_ms, end_ms, by, limit, host_id)
                ).all()
            else:
                rows = conn.execute(
                    self._mixed_query(
                        tenant_id, start_ms, end_ms, (first_hour, past_hours), by, limit, host_id
                    )
                ).all()
        return _usages(rows)

    def top_groups_raw(
        self,
        tenant_id: int,
        start_ms: int,
        end_ms: int,
        *,
        by: TopBy = "cpu",
        limit: int = 10,
        host_id: int | None = None,
    ) -> list[GroupUsage]:
        """top_groups from the raw rows only: every sample of the range through one LAG."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                self._raw_query(tenant_id, start_ms, end_ms, by, limit, host_id)
            ).all()
        return _usages(rows)

    @staticmethod
    def _raw_query(  # noqa: PLR0917 (private)
        tenant_id: int,
        start_ms: int,
        end_ms: int,
        by: TopBy,
        limit: int,
        host_id: int | None,
    ) -> Select[Any]:
        pg = process_groups.c
        in_range = select(
            pg.host_id,
            pg.group_name,
            pg.ts_ms,
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
        cpu = func.sum(_step(s.c.counter, s.c.previous)).label("cpu")
        # CAST: PostgreSQL's avg(bigint) is numeric; float is what the API speaks.
        avg_memory = func.avg(cast(s.c.memory_bytes, Float)).label("avg_memory")
        return (
            select(
                s.c.host_id,
                hosts.c.name,
                s.c.group_name,
                cpu,
                avg_memory,
                func.max(s.c.memory_bytes),
                func.max(s.c.num_procs),
                func.count(),
                func.min(s.c.ts_ms),
                func.max(s.c.ts_ms),
            )
            .join(hosts, hosts.c.id == s.c.host_id)
            .group_by(s.c.host_id, hosts.c.name, s.c.group_name)
            .order_by((cpu if by == "cpu" else avg_memory).desc(), s.c.host_id, s.c.group_name)
            .limit(limit)
        )

    @staticmethod
    def _mixed_query(  # noqa: PLR0917 (private)
        tenant_id: int,
        start_ms: int,
        end_ms: int,
        hours: tuple[int, int],
        by: TopBy,
        limit: int,
        host_id: int | None,
    ) -> Select[Any]:
        """Raw rows in [start_ms, hours[0]) and [hours[1], end_ms], rollup rows of the hours
        in [hours[0], hours[1]), as parts of one shape under one LAG."""
        pg = process_groups.c
        ru = process_group_rollups_1h.c
        zero = cast(literal(0.0), Float)

        def raw(lo: int, hi: int) -> Select[Any]:
            part = select(
                pg.host_id,
                pg.group_name,
                pg.ts_ms.label("first_ts"),
                pg.ts_ms.label("last_ts"),
                pg.cpu_seconds_total.label("first_cpu"),
                pg.cpu_seconds_total.label("last_cpu"),
                zero.label("increase"),
                cast(literal(1), Integer).label("samples"),
                pg.memory_bytes.label("memory_sum"),
                pg.memory_bytes.label("memory_max"),
                pg.num_procs.label("procs_max"),
            ).where(pg.tenant_id == tenant_id, pg.ts_ms >= lo, pg.ts_ms <= hi)
            return part if host_id is None else part.where(pg.host_id == host_id)

        rolled = select(
            ru.host_id,
            ru.group_name,
            ru.first_ts_ms,
            ru.last_ts_ms,
            ru.first_cpu,
            ru.last_cpu,
            ru.cpu_increase,
            ru.samples,
            ru.memory_sum,
            ru.memory_max,
            ru.num_procs_max,
        ).where(ru.tenant_id == tenant_id, ru.bucket_ms >= hours[0], ru.bucket_ms < hours[1])
        if host_id is not None:
            rolled = rolled.where(ru.host_id == host_id)
        parts = union_all(raw(start_ms, hours[0] - 1), rolled, raw(hours[1], end_ms)).subquery(
            "parts"
        )
        p = parts.c
        with_previous = select(
            p.host_id,
            p.group_name,
            p.first_cpu,
            p.increase,
            p.samples,
            p.memory_sum,
            p.memory_max,
            p.procs_max,
            p.first_ts,
            p.last_ts,
            func.lag(p.last_cpu)
            .over(partition_by=(p.host_id, p.group_name), order_by=p.first_ts)
            .label("previous"),
        ).subquery("s")
        s = with_previous.c
        cpu = func.sum(_step(s.first_cpu, s.previous) + s.increase).label("cpu")
        samples = func.sum(s.samples)
        avg_memory = (cast(func.sum(s.memory_sum), Float) / cast(samples, Float)).label(
            "avg_memory"
        )
        return (
            select(
                s.host_id,
                hosts.c.name,
                s.group_name,
                cpu,
                avg_memory,
                func.max(s.memory_max),
                func.max(s.procs_max),
                samples,
                func.min(s.first_ts),
                func.max(s.last_ts),
            )
            .join(hosts, hosts.c.id == s.host_id)
            .group_by(s.host_id, hosts.c.name, s.group_name)
            .order_by((cpu if by == "cpu" else avg_memory).desc(), s.host_id, s.group_name)
            .limit(limit)
        )


def _usages(rows: Any) -> list[GroupUsage]:
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
            first_ts_ms=int(r[8]),
            last_ts_ms=int(r[9]),
        )
        for r in rows
    ]
