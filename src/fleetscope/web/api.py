"""The reporting API: login, hosts, a host's series (JSON or CSV), its top process groups and
inventory, the fleet overview and summary. Handlers
are thin: they parse, call a `query` service (the same ones the dashboard and CLI use) and
shape the JSON.

Handlers are plain `def`: FastAPI runs them in its thread pool, where blocking database calls
belong. No `from __future__ import annotations` here: FastAPI resolves the dependency
annotations defined inside build_router at run time."""

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field
from starlette.requests import HTTPConnection

from fleetscope.config.duration import parse_seconds
from fleetscope.edge.problem import excerpt
from fleetscope.model.auth import Principal
from fleetscope.query.auth import AuthService
from fleetscope.query.csvexport import CsvPoint, csv_lines
from fleetscope.query.devices import device_summaries
from fleetscope.query.fleet import FleetQueries, Headline
from fleetscope.query.hosts import HostQueries
from fleetscope.query.inventory import InventoryQueries
from fleetscope.query.live import LiveHub
from fleetscope.query.metrics import MetricQueries, Series
from fleetscope.query.processes import ProcessQueries
from fleetscope.query.timerange import BadTimeRange, parse_range
from fleetscope.web.deps import HostId
from fleetscope.web.devices import DeviceSummaryOut
from fleetscope.web.fleetjson import FleetJson
from fleetscope.web.routes.charts import add_chart_routes

# Ids are 64-bit in the database: a larger one must be a 422, not the driver's OverflowError.

# The dashboard's session: the login token in an HttpOnly cookie, so page loads and the
# WebSocket authenticate without script access to the token. API clients send it as Bearer.
SESSION_COOKIE = "fleetscope_session"


@dataclass(frozen=True)
class ReadServices:
    auth: AuthService
    hosts: HostQueries
    metrics: MetricQueries
    fleet: FleetQueries
    processes: ProcessQueries
    inventory: InventoryQueries
    live: LiveHub = field(default_factory=LiveHub)
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return round(self.clock() * 1000)

    def session(self, request: HTTPConnection) -> tuple[Principal, str] | None:
        """The principal of the request's Bearer token or session cookie, and the token."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or request.cookies.get(SESSION_COOKIE, "")
        if not token:
            return None
        found = self.auth.verify_token(token)
        return None if found is None else (found, token)


class LoginRequest(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=128)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)


class HostOut(BaseModel):
    id: int
    name: str
    machine_id: str
    agent_version: str | None
    first_seen: AwareDatetime
    last_seen: AwareDatetime


class SeriesOut(BaseModel):
    metric: str
    labels: dict[str, str]
    points: list[tuple[float, float | None]] = Field(
        description="[unix seconds, value] pairs in time order; null means absent at that instant"
    )


class HeadlineOut(BaseModel):
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None = Field(description="fullest writable filesystem, df's Use%")
    network_bytes_per_second: float | None = Field(description="receive + transmit, all but lo")

    @staticmethod
    def of(h: Headline) -> "HeadlineOut":
        return HeadlineOut(
            cpu_percent=h.cpu_percent,
            memory_percent=h.memory_percent,
            disk_percent=h.disk_percent,
            network_bytes_per_second=h.network_bytes_per_second,
        )


Status = Literal["live", "stale", "offline"]


class SparkOut(BaseModel):
    t: list[float] = Field(description="unix seconds")
    cpu_percent: list[float | None]
    memory_percent: list[float | None]
    disk_percent: list[float | None]


class FleetHostOut(BaseModel):
    id: int
    name: str
    machine_id: str
    agent_version: str | None
    last_seen: AwareDatetime
    status: Status
    interval_seconds: float
    latest: HeadlineOut | None
    spark: SparkOut


class HostAverageOut(BaseModel):
    id: int
    name: str
    status: Status
    averages: HeadlineOut


class SummaryOut(BaseModel):
    start_time: AwareDatetime
    end_time: AwareDatetime
    hosts: dict[Status, int]
    averages: HeadlineOut
    worst: dict[str, list[HostAverageOut]]
    devices: list[DeviceSummaryOut] = Field(
        description="aggregator and pushed devices with data in the range, and their own metrics"
    )


class SectionOut(BaseModel):
    values: dict[str, float | None]
    items: dict[str, dict[str, float | None]]


class InventoryOut(BaseModel):
    updated_at: AwareDatetime = Field(description="time of the snapshot that carried the audit")
    content_sha256: str
    audit: dict[str, Any] = Field(description="the agent's inventory section as sent")


class InventoryChangeOut(BaseModel):
    path: str = Field(description="dotted path of what changed: os.kernel, drives.0.size_bytes")
    old: Any = None
    new: Any = None
    values_omitted: bool = Field(
        description="true when old and new were too large to keep; both are then null"
    )


class InventoryRevisionOut(BaseModel):
    at: AwareDatetime = Field(description="time of the first audit with the new content")
    content_sha256: str
    previous_sha256: str
    changes: list[InventoryChangeOut]


class ProcessGroupOut(BaseModel):
    name: str
    cpu_seconds: float = Field(
        description="CPU time (user + system) used in the range, summed across counter resets"
    )
    covered_seconds: float = Field(
        description="from the group's first to its last sample in the range: the span its "
        "data covers"
    )
    cpu_cores: float | None = Field(
        description="cpu_seconds / covered_seconds: the average number of cores busy while the "
        "group was seen; null when one sample covers no span"
    )
    cpu_percent: float | None = Field(
        description="cpu_cores x 100: percent of one core, as top shows it (may exceed 100)"
    )
    memory_avg_bytes: float = Field(description="resident size, averaged over its samples")
    memory_max_bytes: int = Field(description="largest resident size seen")
    max_num_procs: int
    samples: int = Field(description="snapshots in the range that had the group")


class ProcessesReport(BaseModel):
    host_id: int
    host_name: str
    start_time: AwareDatetime
    end_time: AwareDatetime
    sort: Literal["cpu", "memory"] = Field(
        description="cpu: by cpu_seconds; memory: by memory_avg_bytes; largest first"
    )
    groups: list[ProcessGroupOut]


class HostDetailOut(BaseModel):
    id: int
    name: str
    machine_id: str
    agent_version: str | None
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    status: Status
    interval_seconds: float
    sampled_at: AwareDatetime | None
    sections: dict[str, SectionOut] = Field(
        description="cpu, memory, disk, filesystem, network: only those the host has data for"
    )
    latest: HeadlineOut | None = Field(
        description="the newest sample's headline, as the overview shows it; null before any"
    )
    inventory: InventoryOut | None = Field(
        default=None, description="the latest inventory audit; absent when none is stored"
    )


class MetricsReport(BaseModel):
    device_name: str
    host_id: int
    start_time: AwareDatetime
    end_time: AwareDatetime
    tier: str = Field(
        description="raw (up to 6 h), 1m (up to 3 days) or 1h: the stored tier read; "
        "a step picks the coarsest tier no coarser than itself"
    )
    step_seconds: float | None = Field(
        description="spacing of rollup points (bucket starts); null for raw samples"
    )
    agg: str = Field(description="avg, min, max, sum or count of each rollup bucket")
    series: list[SeriesOut]


MAX_PROCESS_GROUPS = 100


def _points(series: list[Series]) -> Iterator[CsvPoint]:
    for s in series:
        for seconds, value in s.points:
            yield seconds, s.metric, s.labels, value


def _host_resources(router: APIRouter, services: ReadServices, User: Any) -> None:
    """A host's process groups, inventory history and charts."""
    add_chart_routes(router, services, User)

    def known_host(tenant_id: int, host_id: int) -> str:
        host = services.hosts.by_id(tenant_id, host_id)
        if host is None:
            raise HTTPException(404, f"no host with id {host_id}")
        return host.name

    @router.get(
        "/hosts/{host_id}/inventory/history",
        tags=["hosts"],
        summary="What changed in the host's inventory, and when; newest first",
    )
    def inventory_history(
        host_id: HostId,
        user: User,
        limit: Annotated[int, Query(ge=1, le=1000, description="revisions at most")] = 100,
    ) -> list[InventoryRevisionOut]:
        known_host(user.tenant_id, host_id)
        return [
            InventoryRevisionOut(
                at=r.at,
                content_sha256=r.content_sha256,
                previous_sha256=r.previous_sha256,
                changes=[
                    InventoryChangeOut(
                        path=c.path, old=c.old, new=c.new, values_omitted=not c.values_kept
                    )
                    for c in r.changes
                ],
            )
            for r in services.inventory.history(user.tenant_id, host_id, limit)
        ]

    @router.get(
        "/hosts/{host_id}/processes",
        tags=["hosts"],
        summary="Top process groups of a host over a time range, by CPU or memory",
    )
    def host_processes(  # noqa: PLR0917 (FastAPI passes query parameters by name)
        host_id: HostId,
        user: User,
        start_time: Annotated[str | None, Query(description="ISO-8601 or epoch seconds")] = None,
        end_time: Annotated[
            str | None, Query(description="ISO-8601 or epoch seconds; default now")
        ] = None,
        sort: Annotated[str, Query(description="cpu or memory")] = "cpu",
        limit: Annotated[str, Query(description="groups to return, 1 to 100")] = "10",
    ) -> ProcessesReport:
        try:
            window = parse_range(start_time, end_time, now=datetime.now(UTC))
        except BadTimeRange as exc:
            raise HTTPException(400, str(exc)) from exc
        if sort not in {"cpu", "memory"}:
            raise HTTPException(400, f"sort={excerpt(sort)} must be cpu or memory")
        count = int(limit) if limit.strip().isdigit() else 0
        if not 1 <= count <= MAX_PROCESS_GROUPS:
            raise HTTPException(400, f"limit={excerpt(limit)} must be a whole number from 1 to 100")
        by: Literal["cpu", "memory"] = "cpu" if sort == "cpu" else "memory"
        name = known_host(user.tenant_id, host_id)
        groups = services.processes.top_groups(
            user.tenant_id, window.start_ms, window.end_ms, by=by, limit=count, host_id=host_id
        )
        return ProcessesReport(
            host_id=host_id,
            host_name=name,
            start_time=window.start,
            end_time=window.end,
            sort=by,
            groups=[
                ProcessGroupOut(
                    name=g.group_name,
                    cpu_seconds=g.cpu_seconds,
                    covered_seconds=g.covered_seconds,
                    cpu_cores=g.cpu_cores,
                    cpu_percent=None if g.cpu_cores is None else 100 * g.cpu_cores,
                    memory_avg_bytes=g.avg_memory_bytes,
                    memory_max_bytes=g.max_memory_bytes,
                    max_num_procs=g.max_num_procs,
                    samples=g.samples,
                )
                for g in groups
            ],
        )


def not_a_user(services: ReadServices, request: Request) -> HTTPException:
    """Why a read is refused: 403 for an agent API key (known, but it may only send data),
    401 for anything else."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and services.auth.is_agent_key(token.strip()):
        return HTTPException(
            403,
            "an agent API key can only send data; log in as a user to read "
            "(POST /api/v1/auth/login)",
        )
    return HTTPException(
        401,
        "log in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def build_router(services: ReadServices) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    def principal(request: Request) -> Principal:
        found = services.session(request)
        if found is None:
            raise not_a_user(services, request)
        return found[0]

    User = Annotated[Principal, Depends(principal)]

    @router.post("/auth/login", tags=["auth"])
    def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
        token = services.auth.login(body.username, body.password)
        if token is None:
            raise HTTPException(401, "wrong username or password")
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return LoginResponse(token=token)

    @router.post("/auth/logout", tags=["auth"], status_code=204)
    def logout(request: Request, response: Response) -> None:
        found = services.session(request)
        if found is not None:
            services.auth.logout(found[1])
        response.delete_cookie(SESSION_COOKIE, path="/")

    fleet_json = FleetJson()

    @router.get(
        "/fleet",
        tags=["hosts"],
        summary="Every host: status, latest values, sparklines",
        response_model=list[FleetHostOut],
    )
    def fleet(user: User) -> Response:
        # Written by FleetJson, not through FleetHostOut models: see web/fleetjson.py.
        found = services.fleet.overview(user.tenant_id, services.now_ms())
        return Response(fleet_json.render(found), media_type="application/json")

    @router.get("/hosts/{host_id}", tags=["hosts"], response_model_exclude_unset=True)
    def host_detail(host_id: HostId, user: User) -> HostDetailOut:
        found = services.fleet.host(user.tenant_id, host_id, services.now_ms())
        if found is None:
            raise HTTPException(404, f"no host with id {host_id}")
        latest = services.inventory.latest(user.tenant_id, host_id)
        detail = HostDetailOut(
            id=found.id,
            name=found.name,
            machine_id=found.machine_id,
            agent_version=found.agent_version,
            first_seen=found.first_seen,
            last_seen=found.last_seen,
            status=found.status,
            interval_seconds=found.interval_seconds,
            sampled_at=found.sampled_at,
            sections={
                name: SectionOut(values=s.values, items=s.items)
                for name, s in found.sections.items()
            },
            latest=None if found.latest is None else HeadlineOut.of(found.latest),
        )
        if latest is not None:  # set only when stored: absent from the JSON otherwise
            detail.inventory = InventoryOut(
                updated_at=latest.updated_at,
                content_sha256=latest.content_sha256,
                audit=latest.audit,
            )
        return detail

    _host_resources(router, services, User)

    @router.get("/reports/summary", tags=["reports"])
    def summary(
        user: User,
        time_range: Annotated[
            float, Query(gt=0, le=24 * 366, description="hours back from now")
        ] = 24,
    ) -> SummaryOut:
        now = services.now_ms()
        found = services.fleet.summary(
            user.tenant_id, start := now - round(time_range * 3_600_000), now, now
        )
        return SummaryOut(
            start_time=found.start,
            end_time=found.end,
            hosts=found.counts,
            averages=HeadlineOut.of(found.averages),
            worst={
                metric: [
                    HostAverageOut(
                        id=h.id, name=h.name, status=h.status, averages=HeadlineOut.of(h.averages)
                    )
                    for h in hosts
                ]
                for metric, hosts in found.worst.items()
            },
            devices=[
                DeviceSummaryOut.of(d)
                for d in device_summaries(services.metrics, user.tenant_id, start, now)
            ],
        )

    @router.get("/hosts", tags=["hosts"])
    def list_hosts(user: User) -> list[HostOut]:
        return [
            HostOut.model_validate(h, from_attributes=True)
            for h in services.hosts.list(user.tenant_id)
        ]

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
        user: User,
        request: Request,
        start_time: Annotated[str | None, Query(description="ISO-8601 or epoch seconds")] = None,
        end_time: Annotated[
            str | None, Query(description="ISO-8601 or epoch seconds; default now")
        ] = None,
        metrics: Annotated[str | None, Query(description="comma-separated metric names")] = None,
        step: Annotated[
            str | None,
            Query(description="point spacing: 5m, 1h, 1d or seconds; default by the range"),
        ] = None,
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
        try:
            window = parse_range(start_time, end_time, now=datetime.now(UTC))
            step_ms = None if step is None else round(parse_seconds(step) * 1000)
        except (BadTimeRange, ValueError) as exc:
            raise HTTPException(400, str(exc)) from exc
        if step_ms is not None and step_ms <= 0:
            raise HTTPException(400, f"step={excerpt(step)} must be positive")
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
            step_seconds=None if found.step_ms is None else found.step_ms / 1000,
            agg=found.agg,
            series=[
                SeriesOut(metric=s.metric, labels=s.labels, points=s.points) for s in found.series
            ],
        )

    return router
