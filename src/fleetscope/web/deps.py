"""Typed dependencies of the read routes: ids, the signed-in user, the time range and step,
and limits.

No `from __future__ import annotations`: FastAPI resolves these annotations at run time."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from starlette.requests import HTTPConnection

from fleetscope.config.duration import parse_seconds
from fleetscope.edge.problem import excerpt
from fleetscope.model.auth import Principal
from fleetscope.query.accounts import AccountService
from fleetscope.query.hosts import HostSummary
from fleetscope.query.timerange import BadTimeRange, TimeRange, parse_range
from fleetscope.web.services import ReadServices

# Ids are INTEGER columns, which PostgreSQL keeps in 32 bits: a larger number is a 422 naming
# the parameter, in both databases, not PostgreSQL's "integer out of range" (a 500) or an
# OverflowError inside the driver.
MAX_ID = 2**31 - 1
HostId = Annotated[int, Path(ge=1, le=MAX_ID, description="the host's id")]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]

MAX_PROCESS_GROUPS = 100
ProcessGroupLimit = Annotated[
    int, Query(ge=1, le=MAX_PROCESS_GROUPS, description="groups to return, 1 to 100")
]
RevisionLimit = Annotated[int, Query(ge=1, le=1000, description="revisions at most")]


def read_router(services: ReadServices, **options: Any) -> APIRouter:
    """An APIRouter (`options` as APIRouter's) whose routes may take `Services` and
    `CurrentUser`: its router-level dependency hands each request the services it was built
    with, so the dependencies below are plain module-level types, not closures per router."""

    def provide(request: Request) -> None:
        request.state.read_services = services

    return APIRouter(dependencies=[Depends(provide)], **options)


def read_services(request: Request) -> ReadServices:
    services = getattr(request.state, "read_services", None)
    if not isinstance(services, ReadServices):
        raise TypeError("a read route must be on a router made by web.deps.read_router")
    return services


Services = Annotated[ReadServices, Depends(read_services)]


def not_a_user(services: ReadServices, request: HTTPConnection) -> HTTPException:
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


def current_user(request: Request, services: Services) -> Principal:
    found = services.session(request)
    if found is None:
        raise not_a_user(services, request)
    return found[0]


CurrentUser = Annotated[Principal, Depends(current_user)]


def account_service(services: Services) -> AccountService:
    if services.accounts is None:
        raise TypeError("an account route needs ReadServices.accounts")
    return services.accounts


Accounts = Annotated[AccountService, Depends(account_service)]


def client_address(request: HTTPConnection) -> str | None:
    """The peer's address, for throttling and the audit log (no proxy header is trusted)."""
    return None if request.client is None else request.client.host


def require(allowed: bool, what: str) -> None:
    """403 unless the principal may: for routes whose existence is no secret; an object of
    another tenant is a 404 in the handler, never this."""
    if not allowed:
        raise HTTPException(403, f"not allowed: {what}")


@dataclass(frozen=True, slots=True)
class TimeRangeQuery:
    """start_time and end_time as sent. `window()` parses them where the handler asks, so a
    route answers its errors in the order it always has: a bad path id or limit (422) and, on
    the charts route, an unknown host (404) before a bad range (400)."""

    start_time: str | None
    end_time: str | None

    def window(self) -> TimeRange:
        try:
            return parse_range(self.start_time, self.end_time, now=datetime.now(UTC))
        except BadTimeRange as exc:
            raise HTTPException(400, str(exc)) from exc


def time_range_query(
    start_time: Annotated[str | None, Query(description="ISO-8601 or epoch seconds")] = None,
    end_time: Annotated[
        str | None, Query(description="ISO-8601 or epoch seconds; default now")
    ] = None,
) -> TimeRangeQuery:
    return TimeRangeQuery(start_time, end_time)


TimeRangeParams = Annotated[TimeRangeQuery, Depends(time_range_query)]


@dataclass(frozen=True, slots=True)
class StepQuery:
    """The spacing of rollup points as sent (5m, 1h, 1d or seconds); None asks for the
    default by the range."""

    step: str | None

    def milliseconds(self) -> int | None:
        if self.step is None:
            return None
        try:
            step_ms = round(parse_seconds(self.step) * 1000)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        if step_ms <= 0:
            raise HTTPException(400, f"step={excerpt(self.step)} must be positive")
        return step_ms


def step_query(
    step: Annotated[
        str | None,
        Query(description="point spacing: 5m, 1h, 1d or seconds; default by the range"),
    ] = None,
) -> StepQuery:
    return StepQuery(step)


StepParams = Annotated[StepQuery, Depends(step_query)]


def known_host(services: ReadServices, tenant_id: int, host_id: int) -> HostSummary:
    """The tenant's host, or the 404. Called in the handler rather than declared as a
    dependency, so that a bad query parameter (422) is still answered before an unknown host."""
    host = services.hosts.by_id(tenant_id, host_id)
    if host is None:
        raise HTTPException(404, f"no host with id {host_id}")
    return host
