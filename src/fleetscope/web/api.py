"""The reporting API: login, hosts, a host's series. Handlers are thin: they parse, call a
`query` service (the same ones the dashboard and CLI use) and shape the JSON.

Handlers are plain `def`: FastAPI runs them in its thread pool, where blocking database calls
belong. No `from __future__ import annotations` here: FastAPI resolves the dependency
annotations defined inside build_router at run time."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from fleetscope.model.auth import Principal
from fleetscope.model.duration import parse_seconds
from fleetscope.query.auth import AuthService
from fleetscope.query.hosts import HostQueries
from fleetscope.query.metrics import MetricQueries
from fleetscope.query.timerange import BadTimeRange, parse_range


@dataclass(frozen=True)
class ReadServices:
    auth: AuthService
    hosts: HostQueries
    metrics: MetricQueries


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


def build_router(services: ReadServices) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    def principal(request: Request) -> Principal:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = (
            services.auth.verify_token(token.strip())
            if scheme.lower() == "bearer" and token
            else None
        )
        if found is None:
            raise HTTPException(
                401,
                "log in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return found

    User = Annotated[Principal, Depends(principal)]

    @router.post("/auth/login", tags=["auth"])
    def login(body: LoginRequest) -> LoginResponse:
        token = services.auth.login(body.username, body.password)
        if token is None:
            raise HTTPException(401, "wrong username or password")
        return LoginResponse(token=token)

    @router.get("/hosts", tags=["hosts"])
    def list_hosts(user: User) -> list[HostOut]:
        return [
            HostOut.model_validate(h, from_attributes=True)
            for h in services.hosts.list(user.tenant_id)
        ]

    @router.get("/reports/metrics/{device_name}", tags=["reports"])
    def host_metrics(  # noqa: PLR0917 (FastAPI passes query parameters by name)
        device_name: str,
        user: User,
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
    ) -> MetricsReport:
        try:
            window = parse_range(start_time, end_time, now=datetime.now(UTC))
            step_ms = None if step is None else round(parse_seconds(step) * 1000)
        except (BadTimeRange, ValueError) as exc:
            raise HTTPException(400, str(exc)) from exc
        if step_ms is not None and step_ms <= 0:
            raise HTTPException(400, f"step={step!r} must be positive")
        host = services.hosts.by_name(user.tenant_id, device_name)
        if host is None:
            raise HTTPException(404, f"no host named {device_name!r}")
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
