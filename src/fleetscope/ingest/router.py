"""HTTP intake: authenticate the key, bound and decode the body, validate against the payload
schema, enqueue durably, answer. Nothing here touches the database: the key check is injected.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from fleetscope.edge.problem import FieldError, problem_response
from fleetscope.ingest.body import BadEncoding, BodyTooLarge, decode, read_limited
from fleetscope.ingest.versions import UnknownFieldLog
from fleetscope.model.auth import Principal
from fleetscope.model.codec import PayloadError, decode_payload
from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.stream.base import (
    NewMessage,
    Stream,
    StreamBacklogFull,
    StreamUnavailable,
    Submits,
)

KeyVerifier = Callable[[str], Principal | None]

log = logging.getLogger(__name__)


class IngestSettings(BaseModel):
    max_body_bytes: int = 16 * 1024 * 1024  # after decoding; a day of 10 s snapshots is ~15 MB
    host_label: str = "instance"  # the remote_write label that names a series' host
    # The accepted time window of samples (ingest/window.py): a clock this far ahead is
    # allowed, and nothing older than the raw retention (None: any age).
    max_future_seconds: float = 600
    max_age_seconds: float | None = None


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter(
            "fleetscope_ingest_payloads_accepted_total",
            "Payloads enqueued durably",
            registry=registry,
        )
        self.snapshots = Counter(
            "fleetscope_ingest_snapshots_accepted_total",
            "Snapshots in accepted payloads",
            registry=registry,
        )
        self.rejected = Counter(
            "fleetscope_ingest_payloads_rejected_total",
            "Payloads refused, by reason",
            ["reason"],
            registry=registry,
        )


@dataclass(frozen=True)
class IngestDeps:
    settings: IngestSettings
    stream: Stream
    verify_key: KeyVerifier
    metrics: IngestMetrics
    clock: Callable[[], float] = time.time
    # Answers from memory only, never blocks (cli/server.py CachedKeys.known): a key it knows
    # is checked on the event loop; None or an unknown key goes to verify_key in a thread.
    known_key: KeyVerifier | None = None
    unknown_fields: UnknownFieldLog = field(default_factory=UnknownFieldLog)
    # The stream's awaitable enqueue, if it has one. Resolved once: isinstance against a
    # runtime-checkable Protocol walks its attributes every time (about 3 % of the embedded
    # server's CPU per payload, py-spy).
    submit: Callable[[Sequence[NewMessage]], Future[list[str]]] | None = field(
        init=False, default=None
    )

    def __post_init__(self) -> None:
        if isinstance(self.stream, Submits):
            object.__setattr__(self, "submit", self.stream.submit)


def error(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
    **extra: Any,
) -> Response:
    """A refusal as problem details (edge/problem.py); `extra` become extension members."""
    return problem_response(status, message, errors, headers, **extra)


Headers = Mapping[str, str]  # lower-case names; Starlette's Headers or a plain dict


def bearer_token(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def validation_details(exc: ValidationError | PayloadError) -> list[FieldError]:
    """The errors with the field path as a dotted string, which is what a person reads. The
    agent's payload (msgspec) reports its first error; pydantic models (model/devices.py) all."""
    if isinstance(exc, PayloadError):
        return [FieldError(exc.field or "(body)", exc.message)]
    return [
        FieldError(".".join(str(part) for part in err["loc"]) or "(body)", err["msg"])
        for err in exc.errors(include_url=False, include_input=False)
    ]


class Rejected(Exception):
    """A request ingest refuses: the status, a metric reason and the message for the sender."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        headers: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.extra = status, reason, message, extra
        self.headers, self.errors = headers, errors

    def response(self) -> Response:
        return error(self.status, self.message, self.headers, self.errors, **self.extra)


async def authenticate(
    request: Request, verify_key: KeyVerifier, known_key: KeyVerifier | None = None
) -> Principal:
    return await authenticate_headers(request.headers, verify_key, known_key)


async def authenticate_headers(
    headers: Headers, verify_key: KeyVerifier, known_key: KeyVerifier | None = None
) -> Principal:
    key = bearer_token(headers)
    principal = None
    if key:
        # The thread-pool hop cost about 5 % of the embedded server's CPU per payload (py-spy),
        # for a dict lookup when the key is cached.
        principal = known_key(key) if known_key is not None else None
        if principal is None:
            principal = await run_in_threadpool(verify_key, key)
    if principal is None:
        raise Rejected(
            401,
            "unauthorized",
            "missing, wrong or revoked API key (send 'Authorization: Bearer <key>')",
        )
    if principal.kind != "agent_key":
        raise Rejected(
            403,
            "forbidden",
            "a login session cannot send data: send an agent API key "
            "('Authorization: Bearer <key>')",
        )
    return principal


def media_type(request: Request, default: str = "application/json") -> str:
    return header_media_type(request.headers, default)


def header_media_type(headers: Headers, default: str = "application/json") -> str:
    return headers.get("content-type", default).split(";")[0].strip().lower()


async def read_body(request: Request, limit: int, media_types: tuple[str, ...]) -> bytes:
    return await read_headers_body(request.headers, request.stream(), limit, media_types)


async def read_headers_body(
    headers: Headers, chunks: AsyncIterator[bytes], limit: int, media_types: tuple[str, ...]
) -> bytes:
    """The decoded body, bounded by `limit` before and after decoding; 415 unless its
    Content-Type is one of `media_types` (a missing one counts as the first)."""
    content_type = header_media_type(headers, media_types[0])
    if content_type not in media_types:
        wanted = " or ".join(media_types)
        raise Rejected(415, "media_type", f"Content-Type must be {wanted}, not {content_type!r}")
    declared = headers.get("content-length")
    try:
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"request body exceeds {limit} bytes")
        raw = await read_limited(chunks, limit)
        return decode(raw, headers.get("content-encoding"), limit)
    except BodyTooLarge as exc:
        raise Rejected(413, "too_large", str(exc)) from exc
    except BadEncoding as exc:
        raise Rejected(400, "encoding", str(exc)) from exc


async def read_json_body(request: Request, limit: int) -> bytes:
    return await read_body(request, limit, ("application/json",))


def invalid(exc: ValidationError | PayloadError, what: str = "payload", **extra: Any) -> Rejected:
    """422 naming every field that is wrong."""
    errors = validation_details(exc)
    first = errors[0]
    return Rejected(
        422,
        "invalid",
        f"{what} does not match the schema: {first.field}: {first.message}",
        errors=errors,
        **extra,
    )


# The cause (a host and port, a Redis error) goes to the log, not to the sender.
STREAM_RETRY_AFTER_SECONDS = 5


async def enqueue(deps: IngestDeps, message: NewMessage) -> None:
    try:
        if deps.submit is not None:
            # Awaited on the event loop, without a pool thread blocked in enqueue. Shielded:
            # a client that hangs up must not cancel a write the stream may already be doing.
            await asyncio.shield(asyncio.wrap_future(deps.submit([message])))
        else:
            await run_in_threadpool(deps.stream.enqueue, [message])
    except StreamBacklogFull as exc:
        retry_after = max(1, math.ceil(exc.retry_after_seconds))
        raise Rejected(
            429,
            "backlog",
            f"digest is behind, retry in {retry_after} s: {exc}",
            headers={"Retry-After": str(retry_after)},
        ) from exc
    except StreamUnavailable as exc:
        log.warning("ingest answered 503: %s", exc)
        raise Rejected(
            503,
            "unavailable",
            f"the stream is unavailable, retry in {STREAM_RETRY_AFTER_SECONDS} s",
            headers={"Retry-After": str(STREAM_RETRY_AFTER_SECONDS)},
        ) from exc


def check_window(deps: IngestDeps, stamps: Iterable[tuple[str, float]]) -> None:
    """422 naming the first time (field, epoch seconds) outside the accepted window: later than
    the clock-skew allowance ahead of now, or older than the raw retention."""
    now = deps.clock()
    latest = now + deps.settings.max_future_seconds
    age = deps.settings.max_age_seconds
    earliest = -math.inf if age is None else now - age
    for name, seconds in stamps:
        if earliest <= seconds <= latest:
            continue
        if seconds > latest:
            why = (
                f"is {seconds - now:.0f} s ahead of the server's clock; at most "
                f"{deps.settings.max_future_seconds:.0f} s are allowed (check the sender's clock)"
            )
        else:
            why = f"is older than the raw retention ({(age or 0) / 86400:g} days)"
        raise Rejected(422, "time_window", f"{name} {why}", errors=[FieldError(name, why)])


async def accept_payload(
    deps: IngestDeps, headers: Headers, chunks: AsyncIterator[bytes]
) -> Response:
    """POST /api/v1/ingest, from the request's headers and body chunks: the route below and
    IngestFastPath both answer with this."""
    try:
        principal = await authenticate_headers(headers, deps.verify_key, deps.known_key)
        body = await read_headers_body(
            headers, chunks, deps.settings.max_body_bytes, ("application/json",)
        )
        try:
            payload = decode_payload(body)
        except PayloadError as exc:
            raise invalid(exc) from exc
        deps.unknown_fields.check(payload.agent.version, body)
        check_window(
            deps,
            (
                (f"snapshots.{i}.timestamp", s.timestamp.timestamp())
                for i, s in enumerate(payload.snapshots)
            ),
        )
        message = NewMessage(AGENT_PAYLOAD, principal.tenant_id, body, key=payload.host.machine_id)
        await enqueue(deps, message)
    except Rejected as rejected:
        deps.metrics.rejected.labels(rejected.reason).inc()
        return rejected.response()
    deps.metrics.accepted.inc()
    deps.metrics.snapshots.inc(len(payload.snapshots))
    return JSONResponse(
        {
            "status": "accepted",
            "batch_id": str(payload.batch_id),
            "snapshots": len(payload.snapshots),
        },
        status_code=202,
    )


INGEST_PATH = "/api/v1/ingest"


@dataclass(frozen=True)
class _RouteName:
    path: str


_FAST_ROUTE = _RouteName(INGEST_PATH)


class _Disconnected(Exception):
    """The client hung up before its body was read: there is no one to answer."""


class IngestFastPath:
    """POST /api/v1/ingest answered as plain ASGI, before FastAPI's routing: a plain ASGI
    middleware placed inside the app's request metrics. FastAPI's per-request work (routing
    through the included routers, request object, dependency solving, its telemetry lookup,
    the exception and exit-stack middleware) was about a third of the embedded server's
    GIL-held time at saturation (py-spy --gil under bench/fleet_simulator.py --max 32). The
    FastAPI route stays registered: it documents the endpoint in the OpenAPI schema and
    serves it wherever this middleware is not installed; both answer with accept_payload."""

    def __init__(self, app: ASGIApp, *, deps: IngestDeps) -> None:
        self.app = app
        self.deps = deps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != INGEST_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = _FAST_ROUTE  # as the router would: request metrics read its path
        # Reversed: for a repeated header the first one wins, as Starlette's Headers.get.
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in reversed(scope["headers"])
        }

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        try:
            response = await accept_payload(self.deps, headers, chunks())
        except _Disconnected:
            return
        await response(scope, receive, send)


def build_router(deps: IngestDeps) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["ingest"])

    @router.post("/ingest", status_code=202, summary="Accept an agent payload batch")
    async def ingest(request: Request) -> Response:
        return await accept_payload(deps, request.headers, request.stream())

    # Imported here: ingest/devices.py builds on this module's helpers.
    from fleetscope.ingest.devices import build_device_router  # noqa: PLC0415
    from fleetscope.ingest.otlp import build_otlp_router  # noqa: PLC0415
    from fleetscope.ingest.remote_write import build_remote_write_router  # noqa: PLC0415

    router.include_router(build_device_router(deps))
    # Outside /api/v1: Prometheus' and OTLP's own paths (Mimir's /prometheus prefix).
    root = APIRouter()
    root.include_router(router)
    root.include_router(build_remote_write_router(deps))
    root.include_router(build_otlp_router(deps))
    return root
