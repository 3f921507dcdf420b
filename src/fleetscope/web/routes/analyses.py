"""/api/v1/analyses: start an analysis of a host over a range or of an uploaded collection file
(answered at once with its id; a worker thread runs it, report/runner.py), follow and list
them, and download the report as HTML or PDF.

No `from __future__ import annotations`: FastAPI resolves the annotations at run time."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from fleetscope.model.auth import Principal
from fleetscope.query.analyses import STATES, STATUSES, AnalysisQueries, AnalysisRow, NotFound
from fleetscope.query.timerange import BadTimeRange, parse_time
from fleetscope.web.deps import MAX_ID, CurrentUser, PathId, read_router
from fleetscope.web.services import ReadServices

MAX_RANGE_DAYS = 31


class AnalysisRequest(BaseModel):
    """Either a host and a range, or an uploaded collection file's id."""

    model_config = ConfigDict(extra="forbid")
    host: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    start: str | None = None  # ISO-8601 or epoch seconds
    end: str | None = None
    collection_file: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "AnalysisRequest":
        if (self.host is None) == (self.collection_file is None):
            raise ValueError("give either host with start and end, or collection_file")
        if self.host is not None and (self.start is None or self.end is None):
            raise ValueError("host needs start and end (ISO-8601 or epoch seconds)")
        return self


class AnalysisStarted(BaseModel):
    id: int
    state: str


class AnalysisOut(BaseModel):
    id: int
    host: str
    host_id: int
    collection_file: int | None
    created_by: int | None
    start: AwareDatetime
    end: AwareDatetime
    created_at: AwareDatetime
    analysed_at: AwareDatetime | None
    state: str
    progress: int
    status: str | None
    fit: int | None
    snapshots: int | None
    error: str | None
    findings: list[dict[str, Any]] | None = None
    report_html: str
    report_pdf: str


def _out(row: AnalysisRow) -> AnalysisOut:
    base = f"/api/v1/analyses/{row.id}"
    return AnalysisOut(
        id=row.id,
        host=row.host,
        host_id=row.host_id,
        collection_file=row.collection_id,
        created_by=row.created_by,
        start=row.start,
        end=row.end,
        created_at=row.created_at,
        analysed_at=row.analysed_at,
        state=row.state,
        progress=row.progress,
        status=row.status,
        fit=row.fit,
        snapshots=row.snapshots,
        error=row.error,
        findings=row.findings,
        report_html=f"{base}/report.html",
        report_pdf=f"{base}/report.pdf",
    )


def _create(analyses: AnalysisQueries, body: AnalysisRequest, user: Principal, now: int) -> int:
    created_by = analyses.user_id(user.tenant_id, user.subject)
    try:
        if body.collection_file is not None:
            return analyses.create_for_collection(
                user.tenant_id, body.collection_file, now, created_by
            )
        assert body.host is not None and body.start and body.end
        first = parse_time(body.start, "start")
        last = parse_time(body.end, "end")
        if last <= first:
            raise HTTPException(422, "end: must be after start")
        if (last - first).days > MAX_RANGE_DAYS:
            raise HTTPException(422, f"end: the range may span {MAX_RANGE_DAYS} days")
        return analyses.create(
            user.tenant_id,
            analyses.host_id(user.tenant_id, body.host),
            start_ms=round(first.timestamp() * 1000),
            end_ms=round(last.timestamp() * 1000),
            now_ms=now,
            created_by=created_by,
        )
    except BadTimeRange as exc:
        raise HTTPException(422, str(exc)) from exc
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc


def build_analyses_router(
    services: ReadServices, analyses: AnalysisQueries, submit: Callable[[int], None]
) -> APIRouter:
    router = read_router(services, prefix="/api/v1/analyses", tags=["analyses"])

    @router.post("", status_code=202, summary="Start an analysis; answers at once with its id")
    def start(body: AnalysisRequest, user: CurrentUser) -> AnalysisStarted:
        if not user.may_run_analyses():  # a viewer or a read key only reads
            raise HTTPException(403, "only editors and admins start analyses")
        analysis_id = _create(analyses, body, user, services.now_ms())
        submit(analysis_id)
        return AnalysisStarted(id=analysis_id, state="queued")

    @router.get("", summary="Analyses, newest first")
    def list_analyses(  # noqa: PLR0917 (FastAPI passes query parameters by name anyway)
        user: CurrentUser,
        status: Annotated[str | None, Query(description=" | ".join(STATUSES))] = None,
        host: Annotated[str | None, Query(description="host name")] = None,
        host_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="host id")] = None,
        state: Annotated[str | None, Query(description=" | ".join(STATES))] = None,
        since: Annotated[str | None, Query(description="created at or after (ISO/epoch)")] = None,
        until: Annotated[str | None, Query(description="created at or before")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AnalysisOut]:
        if status is not None and status not in STATUSES:
            raise HTTPException(422, f"status: one of {', '.join(STATUSES)}, not {status!r}")
        if state is not None and state not in STATES:
            raise HTTPException(422, f"state: one of {', '.join(STATES)}, not {state!r}")
        try:
            since_ms = (
                None if since is None else round(parse_time(since, "since").timestamp() * 1000)
            )
            until_ms = (
                None if until is None else round(parse_time(until, "until").timestamp() * 1000)
            )
        except BadTimeRange as exc:
            raise HTTPException(422, str(exc)) from exc
        rows = analyses.list(
            user.tenant_id, status=status, host=host, host_id=host_id, state=state,
            since_ms=since_ms, until_ms=until_ms, limit=limit,
        )  # fmt: skip
        return [_out(r) for r in rows]

    @router.get("/{analysis_id}", summary="One analysis: state, progress, status, fit, findings")
    def show(analysis_id: PathId, user: CurrentUser) -> AnalysisOut:
        try:
            return _out(analyses.get(user.tenant_id, analysis_id))
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.get("/{analysis_id}/report.html", summary="The report, one self-contained HTML file")
    def report_html(analysis_id: PathId, user: CurrentUser) -> Response:
        try:
            data = analyses.report(user.tenant_id, analysis_id, "html")
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(data, media_type="text/html; charset=utf-8")

    @router.get("/{analysis_id}/report.pdf", summary="The report as PDF")
    def report_pdf(analysis_id: PathId, user: CurrentUser) -> Response:
        try:
            data = analyses.report(user.tenant_id, analysis_id, "pdf")
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="analysis-{analysis_id}.pdf"'},
        )

    return router
