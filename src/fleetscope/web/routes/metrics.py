"""GET /api/v1/reports/metrics/{device_name}: a host's series over a range, from the tier the
range and step pick (query/metrics.py), as JSON or CSV (query/csvexport.py)."""

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from fleetscope.edge.problem import excerpt
from fleetscope.query.csvexport import CsvPoint, csv_lines
from fleetscope.query.metrics import Series
from fleetscope.web.deps import CurrentUser, StepParams, TimeRangeParams, read_router
from fleetscope.web.schemas import MetricsReport, SeriesOut
from fleetscope.web.services import ReadServices


def _points(series: list[Series]) -> Iterator[CsvPoint]:
    for s in series:
        for seconds, value in s.points:
            yield seconds, s.metric, s.labels, value


def build_metrics_router(services: ReadServices) -> APIRouter:
    router = read_router(services)

    @router.get(
        # :path, so a name with "/" (sent URL-encoded) is read back like any other.
        "/reports/metrics/{device_name:path}",
        tags=["reports"],
        response_model=MetricsReport,
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
        description="JSON by default; CSV (columns timestamp, metric, labels, value: "
        "query/csvexport.py) with `Accept: text/csv` or `?format=csv`.",
    )
    def host_metrics(  # noqa: PLR0917 (FastAPI passes query parameters by name)
        device_name: str,
        user: CurrentUser,
        request: Request,
        time_range: TimeRangeParams,
        step: StepParams,
        metrics: Annotated[str | None, Query(description="comma-separated metric names")] = None,
        agg: Annotated[
            str, Query(pattern="^(avg|min|max|sum|count)$", description="rollup aggregate")
        ] = "avg",
        format: Annotated[
            str | None, Query(description="json or csv; default by the Accept header")
        ] = None,
    ) -> Response | MetricsReport:
        if format not in {None, "json", "csv"}:
            raise HTTPException(400, f"format={excerpt(format)} must be json or csv")
        as_csv = format == "csv" or (
            format is None and "text/csv" in request.headers.get("accept", "")
        )
        window = time_range.window()
        step_ms = step.milliseconds()
        host = services.hosts.by_name(user.tenant_id, device_name)
        if host is None:
            raise HTTPException(404, f"no host named {excerpt(device_name)}")
        wanted = {m.strip() for m in metrics.split(",") if m.strip()} if metrics else None
        found = services.metrics.series(
            user.tenant_id,
            host.id,
            window.start_ms,
            window.end_ms,
            wanted,
            step_ms=step_ms,
            agg=agg,
        )
        if as_csv:
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", host.name)
            return StreamingResponse(
                csv_lines(_points(found.series)),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{safe}-metrics.csv"'},
            )
        return MetricsReport(
            device_name=host.name,
            host_id=host.id,
            start_time=window.start,
            end_time=window.end,
            tier=found.tier,
            step_seconds=found.step_seconds,
            agg=found.agg,
            series=[
                SeriesOut(metric=s.metric, labels=s.labels, points=s.points) for s in found.series
            ],
        )

    return router
