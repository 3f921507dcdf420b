"""GET /api/v1/hosts/{id}/charts: everything the host page draws over a range, derived by
query/charts.py (rates, percentages, fill trends), with a shared time axis per chart so the
page hands each one to uPlot as it is.

No `from __future__ import annotations`: FastAPI resolves the annotations at run time."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from fleetscope.query.charts import TOP_GROUPS, ChartQueries
from fleetscope.web.deps import CurrentUser, HostId, TimeRangeParams, known_host, read_router
from fleetscope.web.services import ReadServices


class LineOut(BaseModel):
    label: str
    values: list[float | None]


class ChartOut(BaseModel):
    key: str
    title: str
    unit: Literal[
        "percent", "bytes", "bytes_per_second", "per_second", "seconds", "count", "celsius", "hertz"
    ]
    kind: Literal["line", "stacked", "heatmap"]
    times: list[float]
    lines: list[LineOut]


class FillTrendOut(BaseModel):
    mountpoint: str
    used_percent: float | None
    bytes_per_day: float | None
    days_to_full: float | None


class ChartsOut(BaseModel):
    host_id: int
    start_time: AwareDatetime
    end_time: AwareDatetime
    tier: str
    step_seconds: float | None
    charts: list[ChartOut]
    filesystems: list[FillTrendOut]


def build_charts_router(services: ReadServices) -> APIRouter:
    router = read_router(services)
    charts = ChartQueries(services.metrics)

    @router.get(
        "/hosts/{host_id}/charts",
        tags=["hosts"],
        summary="Every chart of the host page over a time range (derived series)",
    )
    def host_charts(
        host_id: HostId,
        user: CurrentUser,
        time_range: TimeRangeParams,
        group: Annotated[
            str | None, Query(max_length=256, description="one process group's own history")
        ] = None,
    ) -> ChartsOut:
        known_host(services, user.tenant_id, host_id)
        window = time_range.window()
        top = []
        if group is None:
            top = [
                g.group_name
                for g in services.processes.top_groups(
                    user.tenant_id,
                    window.start_ms,
                    window.end_ms,
                    by="cpu",
                    limit=TOP_GROUPS,
                    host_id=host_id,
                )
            ]
        found = charts.host(
            user.tenant_id, host_id, window.start_ms, window.end_ms, top_groups=top, group=group
        )
        return ChartsOut(
            host_id=host_id,
            start_time=window.start,
            end_time=window.end,
            tier=found.tier,
            step_seconds=found.step_seconds,
            charts=[
                ChartOut(
                    key=c.key,
                    title=c.title,
                    unit=c.unit,
                    kind=c.kind,
                    times=c.times,
                    lines=[LineOut(label=line.label, values=line.values) for line in c.lines],
                )
                for c in found.charts
            ],
            filesystems=[
                FillTrendOut(
                    mountpoint=f.mountpoint,
                    used_percent=f.used_percent,
                    bytes_per_day=f.bytes_per_day,
                    days_to_full=f.days_to_full,
                )
                for f in found.filesystems
            ],
        )

    return router
