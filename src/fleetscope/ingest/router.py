"""HTTP intake of the agent's payload, POST /api/v1/ingest: the FastAPI route and the raw-ASGI
fast path, which answer alike through `accept_payload`; and the router that gathers every
ingest route (the other kinds: ingest/devices.py, ingest/remote_write.py, ingest/otlp.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fleetscope.ingest.devices import build_device_router
from fleetscope.ingest.intake import (
    Headers,
    IngestDeps,
    Rejected,
    authenticate_headers,
    check_machine,
    check_window,
    enqueue,
    invalid,
    read_received_body,
)
from fleetscope.ingest.otlp import build_otlp_router
from fleetscope.ingest.perfcollector import build_upload_router
from fleetscope.ingest.remote_write import build_remote_write_router
from fleetscope.model.codec import PayloadError, decode_payload
from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.stream.base import NewMessage
from fleetscope.stream.bodies import is_zstd


async def accept_payload(
    deps: IngestDeps, headers: Headers, chunks: AsyncIterator[bytes]
) -> Response:
    """POST /api/v1/ingest, from the request's headers and body chunks: the route below and
    IngestFastPath both answer with this."""
    try:
        principal = await authenticate_headers(headers, deps.verify_key, deps.known_key)
        received, body = await read_received_body(
            headers, chunks, deps.settings.max_body_bytes, ("application/json",)
        )
        try:
            payload = decode_payload(body)
        except PayloadError as exc:
            raise invalid(exc) from exc
        check_machine(principal, payload.host.machine_id)
        deps.unknown_fields.check(payload.agent.version, body)
        check_window(
            deps,
            (
                (f"snapshots.{i}.timestamp", s.timestamp.timestamp())
                for i, s in enumerate(payload.snapshots)
            ),
        )
        # A zstd body (received is not the decoded body) is enqueued as received, a quarter
        # of the JSON's bytes: digest decodes it as this did (stream/bodies.py).
        kept = received if received is not body and is_zstd(received) else body
        message = NewMessage(
            AGENT_PAYLOAD, principal.tenant_id, kept, key=payload.host.machine_id, decoded=payload
        )
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
    the exception and exit-stack middleware) held the GIL for a large share of the embedded
    server's time at saturation (docs/deployment.md, "Where the GIL went at saturation"). The
    FastAPI route stays registered: it documents the endpoint in the OpenAPI schema and
    serves it wherever this middleware is not installed; both answer with accept_payload
    (tests/ingest/test_ingest_fastpath.py sends the same requests through both)."""

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

    router.include_router(build_device_router(deps))
    # Outside /api/v1: Prometheus' and OTLP's own paths (Mimir's /prometheus prefix).
    root = APIRouter()
    root.include_router(router)
    root.include_router(build_remote_write_router(deps))
    root.include_router(build_otlp_router(deps))
    root.include_router(build_upload_router(deps))
    return root
