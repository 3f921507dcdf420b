"""perfcollector's daemon (pcd) endpoints, so that a perfcollector-style client can point at
fleetscope unchanged (docs/interop.md, "perfcollector clients"):

GET  /v1/ping      200 "pong" (text/plain), no key needed: pcd's health check
GET  /v1/version   200, the server's version (text/plain)
POST /v1/upload    multipart/form-data with the capture in part "file" and the machine's id in
    part "machine_id", `Authorization: Bearer <ingest key>`. 200 once the capture is on the
    stream; digest then keeps the file as a collection file of the machine's collector
    (registered when new) and stores its samples.

The capture is converted to agent payloads here, before the 200, so that a file that is not a
capture, or has a line the parsers refuse, is a 422 naming the line rather than a dead letter
later. The parsers are the agent's; cli hands them in (IngestDeps.read_capture).
"""

from __future__ import annotations

import email.policy
import hashlib
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from fleetscope import __version__
from fleetscope.edge.problem import FieldError, excerpt
from fleetscope.ingest.intake import (
    IngestDeps,
    Rejected,
    authenticate,
    check_machine,
    check_window,
    enqueue,
    read_body,
)
from fleetscope.model.codec import PayloadError, convert, encode
from fleetscope.model.devices import UploadHeader, upload_body
from fleetscope.model.kinds import PERFCOLLECTOR_UPLOAD
from fleetscope.model.payload import MAX_SNAPSHOTS_PER_BATCH, HostIdentity, Payload, Snapshot
from fleetscope.stream.base import NewMessage

MULTIPART = ("multipart/form-data",)
AGENT_NAME = "perfcollector"  # AgentInfo.version of the payloads a capture becomes
# Batch ids from the content, so that the same capture uploaded twice is stored once
# (ingested_batches), and its collection file kept once (digest/uploads.py).
_BATCH_NAMESPACE = uuid.UUID("9c1f5bb4-6f0e-4f57-9a53-3d7f2f0d4c11")


def _field(name: str, message: str) -> Rejected:
    return Rejected(422, "invalid", f"{name}: {message}", errors=[FieldError(name, message)])


def multipart_fields(body: bytes, content_type: str) -> dict[str, bytes]:
    """The parts of a multipart/form-data body by name (the first of a name). The stdlib's
    email parser reads multipart (RFC 7578 is MIME), as ingest/devices.py does."""
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise Rejected(400, "multipart", "the multipart/form-data body could not be read")
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(content, bytes):
            fields.setdefault(name, content)
    return fields


def _machine_id(fields: dict[str, bytes]) -> str:
    raw = fields.get("machine_id")
    if raw is None:
        raise _field("machine_id", "the part 'machine_id' is required (the machine's id)")
    try:
        machine_id = raw.decode("utf-8").strip()
        # The rules of an agent's machine id (length, no control characters).
        return convert({"machine_id": machine_id, "hostname": machine_id}, HostIdentity).machine_id
    except UnicodeDecodeError as exc:
        raise _field("machine_id", "is not UTF-8") from exc
    except PayloadError as exc:
        raise _field(
            "machine_id", f"{exc.message} ({excerpt(raw.decode('utf-8', 'replace'))})"
        ) from exc


def capture_payloads(snapshots: list[Snapshot], machine_id: str, sha256: str) -> list[Payload]:
    """The capture's snapshots as agent payloads of the machine, at most
    MAX_SNAPSHOTS_PER_BATCH each, with batch ids fixed by the content."""
    host = HostIdentity(machine_id=machine_id, hostname=machine_id)
    payloads = []
    for n, start in enumerate(range(0, len(snapshots), MAX_SNAPSHOTS_PER_BATCH)):
        payloads.append(
            convert(
                {
                    "schema_version": 1,
                    "batch_id": str(uuid.uuid5(_BATCH_NAMESPACE, f"{sha256}/{machine_id}/{n}")),
                    "agent": {"version": AGENT_NAME},
                    "host": host,
                    "snapshots": snapshots[start : start + MAX_SNAPSHOTS_PER_BATCH],
                },
                Payload,
            )
        )
    return payloads


async def accept_upload(deps: IngestDeps, request: Request) -> dict[str, Any]:
    principal = await authenticate(request, deps.verify_key, deps.known_key)
    body = await read_body(request, deps.settings.max_body_bytes, MULTIPART)
    fields = multipart_fields(body, request.headers.get("content-type", ""))
    machine_id = _machine_id(fields)
    if not principal.may_ingest():
        raise Rejected(403, "forbidden", "only an ingest API key may upload (this one may read)")
    check_machine(principal, machine_id)
    content = fields.get("file")
    if content is None:
        raise _field("file", "the part 'file' is required (the perfcollector capture)")
    if deps.read_capture is None:
        raise Rejected(501, "unsupported", "this server cannot read perfcollector captures")
    try:
        snapshots = await run_in_threadpool(deps.read_capture, content, "file")
    except ValueError as exc:
        raise _field("file", str(exc)) from exc
    check_window(
        deps,
        (
            (f"file: snapshot {i} timestamp", s.timestamp.timestamp())
            for i, s in enumerate(snapshots)
        ),
    )
    sha256 = hashlib.sha256(content).hexdigest()
    payloads = capture_payloads(snapshots, machine_id, sha256)
    header = UploadHeader(
        machine_id=machine_id,
        content_sha256=sha256,
        bytes=len(content),
        uploaded_by=principal.subject[:128],
        received_ms=round(deps.clock() * 1000),
    )
    message = NewMessage(
        PERFCOLLECTOR_UPLOAD,
        principal.tenant_id,
        upload_body(header, content, [encode(p) for p in payloads]),
        key=machine_id,
    )
    await enqueue(deps, message)
    return {
        "machine_id": machine_id,
        "bytes": len(content),
        "content_sha256": sha256,
        "snapshots": len(snapshots),
        "first_timestamp": snapshots[0].timestamp.isoformat(),
        "last_timestamp": snapshots[-1].timestamp.isoformat(),
    }


def build_upload_router(deps: IngestDeps) -> APIRouter:
    """POST /v1/upload: an ingest route (its own body bound, ingest's refusals)."""
    router = APIRouter(tags=["perfcollector"])

    @router.post("/v1/upload", summary="Upload a perfcollector capture (pcd compatible)")
    async def upload(request: Request) -> Response:
        try:
            result = await accept_upload(deps, request)
        except Rejected as rejected:
            deps.metrics.rejected.labels(rejected.reason).inc()
            return rejected.response()
        deps.metrics.accepted.inc()
        return JSONResponse({"status": "accepted", **result})

    return router


def build_pcd_router() -> APIRouter:
    """pcd's ping and version: public, no body."""
    router = APIRouter(tags=["perfcollector"])

    @router.get(
        "/v1/ping", summary="pcd's health check: 200 pong", response_class=PlainTextResponse
    )
    def ping() -> PlainTextResponse:
        return PlainTextResponse("pong")

    @router.get(
        "/v1/version",
        summary="The server's version, as pcd answers its own",
        response_class=PlainTextResponse,
    )
    def version() -> PlainTextResponse:
        return PlainTextResponse(__version__)

    return router
