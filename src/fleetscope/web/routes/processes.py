"""GET /api/v1/hosts/{id}/processes: a host's top process groups over a range, by CPU time or
resident memory (query/processes.py)."""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from fleetscope.edge.problem import excerpt
from fleetscope.web.deps import (
    CurrentUser,
    HostId,
    ProcessGroupLimit,
    TimeRangeParams,
    known_host,
    read_router,
)
from fleetscope.web.schemas import ProcessesReport, ProcessGroupOut
from fleetscope.web.services import ReadServices


def build_processes_router(services: ReadServices) -> APIRouter:
    router = read_router(services)

    @router.get(
        "/hosts/{host_id}/processes",
        tags=["hosts"],
        summary="Top process groups of a host over a time range, by CPU or memory",
    )
    def host_processes(
        host_id: HostId,
        user: CurrentUser,
        time_range: TimeRangeParams,
        sort: Annotated[str, Query(description="cpu or memory")] = "cpu",
        limit: ProcessGroupLimit = 10,
    ) -> ProcessesReport:
        window = time_range.window()
        if sort not in {"cpu", "memory"}:
            raise HTTPException(400, f"sort={excerpt(sort)} must be cpu or memory")
        by: Literal["cpu", "memory"] = "cpu" if sort == "cpu" else "memory"
        host = known_host(services, user.tenant_id, host_id)
        groups = services.processes.top_groups(
            user.tenant_id, window.start_ms, window.end_ms, by=by, limit=limit, host_id=host_id
        )
        return ProcessesReport(
            host_id=host_id,
            host_name=host.name,
            start_time=window.start,
            end_time=window.end,
            sort=by,
            groups=[
                ProcessGroupOut(
                    name=g.group_name,
                    cpu_seconds=g.cpu_seconds,
                    covered_seconds=g.covered_seconds,
                    cpu_cores=g.cpu_cores,
                    cpu_percent=g.cpu_percent,
                    memory_avg_bytes=g.avg_memory_bytes,
                    memory_max_bytes=g.max_memory_bytes,
                    max_num_procs=g.max_num_procs,
                    samples=g.samples,
                )
                for g in groups
            ],
        )

    return router
