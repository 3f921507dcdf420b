"""The intake step every ingest route shares: authenticate the key, bound and decode the body,
refuse with problem details, check the time window, enqueue durably. The routes
(ingest/router.py, devices.py, remote_write.py, otlp.py) build on these helpers, and nothing
here imports them back. Nothing here touches the database: the key check is injected.
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

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ValidationError

from fleetscope.edge.problem import FieldError, excerpt, problem_response
from fleetscope.ingest.body import BadEncoding, BodyTooLarge, decode, read_limited
from fleetscope.ingest.versions import UnknownFieldLog
from fleetscope.model.auth import Principal
from fleetscope.model.codec import PayloadError
from fleetscope.model.payload import Snapshot
from fleetscope.stream.base import (
    NewMessage,
    Stream,
    StreamBacklogFull,
    StreamUnavailable,
    Submits,
)

KeyVerifier = Callable[[str], Principal | None]
# (file content, name for messages) -> snapshots; ValueError naming the bad line.
CaptureReader = Callable[[bytes, str], list[Snapshot]]

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
    # Answers from memory only, never blocks (cli/wiring.py CachedKeys.known): a key it knows
    # is checked on the event loop; None or an unknown key goes to verify_key in a thread.
    known_key: KeyVerifier | None = None
    unknown_fields: UnknownFieldLog = field(default_factory=UnknownFieldLog)
    # perfcollector capture -> snapshots, for POST /v1/upload (ingest/perfcollector.py). The
    # parsers are the agent's, which ingest may not import, so cli hands them in; None: the
    # route answers 501.
    read_capture: CaptureReader | None = None
    # The stream's awaitable enqueue, if it has one. Resolved once: isinstance against a
    # runtime-checkable Protocol walks its attributes every time (its cost per payload:
    # docs/deployment.md, the ingestfast round's "What changed").
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
        # No thread-pool hop for a dict lookup when the key is cached: the hop's cost is in
        # docs/deployment.md, "Measured at the wiring".
        principal = known_key(key) if known_key is not None else None
        if principal is None:
            principal = await run_in_threadpool(verify_key, key)
    if principal is None:
        raise Rejected(
            401,
            "unauthorized",
            "missing, wrong or revoked API key (send 'Authorization: Bearer <key>')",
        )
    if not principal.may_ingest():
        raise Rejected(
            403,
            "forbidden",
            "a login session or a read key cannot send data: send an agent API key "
            "('Authorization: Bearer <key>')",
        )
    return principal


def check_machine(principal: Principal, machine_id: str) -> None:
    """403 for a key bound to one machine (docs/accounts.md, "API keys") sending another's."""
    if principal.bound_machine_id is not None and not principal.may_ingest_for(machine_id):
        raise Rejected(
            403,
            "forbidden",
            f"this API key is bound to another machine than {excerpt(machine_id)}",
        )


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
    return (await read_received_body(headers, chunks, limit, media_types))[1]


async def read_received_body(
    headers: Headers, chunks: AsyncIterator[bytes], limit: int, media_types: tuple[str, ...]
) -> tuple[bytes, bytes]:
    """read_headers_body, with the body as received: (received, decoded)."""
    content_type = header_media_type(headers, media_types[0])
    if content_type not in media_types:
        wanted = " or ".join(media_types)
        raise Rejected(415, "media_type", f"Content-Type must be {wanted}, not {content_type!r}")
    declared = headers.get("content-length")
    try:
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"request body exceeds {limit} bytes")
        raw = await read_limited(chunks, limit)
        return raw, decode(raw, headers.get("content-encoding"), limit)
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
