"""Intake of the other payload kinds: samples of third-party devices (the aggregator API),
pushed Prometheus exposition and uploaded collection files. Same key check, body limits,
decoding and error shapes as the agent's POST /api/v1/ingest (the shared step,
ingest/intake.py).

POST /api/v1/aggregator/metrics/        one AggregatorMetric (model/devices.py)
POST /api/v1/aggregator/metrics/batch/  {"metrics": [AggregatorMetric, ...]}
POST /api/v1/ingest/prometheus?device_name=<host>[&timestamp=<ISO-8601 | epoch s>]
        [&kind=process-exporter]
    exposition text (text/plain; version=0.0.4 or application/openmetrics-text); samples
    without their own timestamp get `timestamp`, else the time of receipt. A push that may be
    retried should send `timestamp`, so that the retry stores nothing twice. With
    kind=process-exporter (default generic) the text is prometheus-process-exporter's, and its
    groups are also stored as the host's process groups.
POST /api/v1/collections                a local-mode collection file: multipart/form-data with
    the file in the part named "file", or the JSON Lines as the body
    (application/x-ndjson, application/jsonl). Every line is validated first; 422 names the
    first bad line. All lines must come from one host.
"""

from __future__ import annotations

import email.policy
import hashlib
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError

from fleetscope.edge.problem import FieldError, excerpt
from fleetscope.exposition.parse import (
    OPENMETRICS_MEDIA_TYPE,
    ExpositionError,
    ExpositionSample,
    parse_exposition,
)
from fleetscope.ingest.intake import (
    IngestDeps,
    Rejected,
    authenticate,
    check_machine,
    check_window,
    enqueue,
    invalid,
    media_type,
    read_body,
    read_received_body,
    validation_details,
)
from fleetscope.model.aggregator import FastBatch, decode_batch
from fleetscope.model.codec import PayloadError, decode_payload
from fleetscope.model.devices import (
    AggregatorBatch,
    AggregatorMetric,
    CollectionHeader,
    DeviceName,
    PrometheusPush,
    Timestamp,
    device_machine_id,
)
from fleetscope.model.kinds import AGGREGATOR_METRICS, COLLECTION_FILE, PROMETHEUS_TEXT
from fleetscope.model.payload import Payload
from fleetscope.model.process_exporter import ExpositionKind
from fleetscope.model.text import control_error
from fleetscope.stream.base import NewMessage
from fleetscope.stream.bodies import is_zstd, zstd_encoded

JSON = ("application/json",)
EXPOSITION = ("text/plain", OPENMETRICS_MEDIA_TYPE)
MULTIPART = "multipart/form-data"
JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
COLLECTION_TYPES = (*JSON_LINES, MULTIPART)

_device_name = TypeAdapter(DeviceName)
_timestamp = TypeAdapter(Timestamp)
_kind = TypeAdapter(ExpositionKind)


def _query_param(adapter: TypeAdapter[Any], request: Request, name: str, required: bool) -> Any:
    raw = request.query_params.get(name)
    if raw is None:
        if required:
            raise Rejected(
                422,
                "invalid",
                f"query parameter {name!r} is required",
                errors=[FieldError(f"query.{name}", "Field required")],
            )
        return None
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        errors = [FieldError(f"query.{name}", e.message) for e in validation_details(exc)]
        raise Rejected(
            422, "invalid", f"query parameter {name!r} is not valid", errors=errors
        ) from exc


def multipart_file(body: bytes, content_type: str) -> bytes:
    """The part named "file" of a multipart/form-data body. The stdlib's email parser reads
    multipart (RFC 7578 is MIME); it saves a dependency (python-multipart) for one field."""
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise Rejected(400, "multipart", "the multipart/form-data body could not be read")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            content = part.get_payload(decode=True)
            if isinstance(content, bytes):
                return content
    raise Rejected(422, "invalid", "the multipart/form-data body has no part named 'file'")


def validate_collection(data: bytes) -> list[Payload]:
    """Every line a payload of one host, or a 422 naming the first bad line (1-based)."""
    payloads: list[Payload] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            payload = decode_payload(line)
        except PayloadError as exc:
            raise invalid(exc, f"line {number}", line=number) from exc
        if payloads and payload.host.machine_id != payloads[0].host.machine_id:
            raise Rejected(
                422,
                "invalid",
                f"line {number}: machine_id {excerpt(payload.host.machine_id)} differs from the"
                f" first line's {excerpt(payloads[0].host.machine_id)}; a collection holds one"
                " host",
                line=number,
            )
        payloads.append(payload)
    if not payloads:
        raise Rejected(422, "invalid", "the collection file holds no payloads", line=0)
    return payloads


async def _enqueue_aggregator(
    deps: IngestDeps,
    tenant_id: int,
    devices: set[str],
    samples: int,
    body: bytes,
    *,
    decoded: FastBatch | None = None,
) -> dict[str, Any]:
    key = device_machine_id(next(iter(devices))) if len(devices) == 1 else None
    await enqueue(deps, NewMessage(AGGREGATOR_METRICS, tenant_id, body, key=key, decoded=decoded))
    return {"samples": samples, "devices": len(devices)}


async def accept_metric(deps: IngestDeps, request: Request) -> dict[str, Any]:
    principal = await authenticate(request, deps.verify_key, deps.known_key)
    body = await read_body(request, deps.settings.max_body_bytes, JSON)
    try:
        metric = AggregatorMetric.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(exc, "metric") from exc
    check_window(deps, [("timestamp", metric.timestamp.timestamp())])
    batch = AggregatorBatch(metrics=[metric])
    return await _enqueue_aggregator(
        deps, principal.tenant_id, {metric.device_name}, 1, batch.model_dump_json().encode()
    )


async def accept_metric_batch(deps: IngestDeps, request: Request) -> dict[str, Any]:
    """The body is enqueued as received, not re-serialised (digest decodes it as here,
    model/aggregator.py), zstd-compressed, and with it what was decoded, for a digest in this
    process (NewMessage.decoded)."""
    principal = await authenticate(request, deps.verify_key, deps.known_key)
    received, body = await read_received_body(
        request.headers, request.stream(), deps.settings.max_body_bytes, JSON
    )
    fast = decode_batch(body)
    if fast is not None:
        # Distinct times, in order of first appearance: the first out of the window is the
        # first metric's that is.
        check_window(deps, ((f"metrics.{i}.timestamp", at) for at, i in fast.seconds.items()))
        kept = _stream_body(received, body)
        return await _enqueue_aggregator(
            deps, principal.tenant_id, set(fast.devices), len(fast.ms), kept, decoded=fast
        )
    try:  # what the fast decoder does not take: the models accept it or name the error
        batch = AggregatorBatch.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(exc, "batch") from exc
    check_window(
        deps,
        ((f"metrics.{i}.timestamp", m.timestamp.timestamp()) for i, m in enumerate(batch.metrics)),
    )
    devices = {m.device_name for m in batch.metrics}
    kept = _stream_body(received, body)
    return await _enqueue_aggregator(deps, principal.tenant_id, devices, len(batch.metrics), kept)


def _stream_body(received: bytes, body: bytes) -> bytes:
    """zstd in the stream: as received when it came so, else compressed (stream/bodies.py)."""
    return received if received is not body and is_zstd(received) else zstd_encoded(body)


def _check_sample_text(samples: list[ExpositionSample]) -> None:
    """Names and label values of pushed samples obey the payload's rules (model/text.py)."""
    for sample in samples:
        for where, text in (("name", sample.name), *sample.labels):
            if why := control_error(text):
                field = f"sample {excerpt(sample.name)}: " + (
                    "name" if where == "name" else f"label {excerpt(where)}"
                )
                raise Rejected(422, "invalid", f"{field} {why}", errors=[FieldError(field, why)])


async def accept_prometheus(deps: IngestDeps, request: Request) -> dict[str, Any]:
    principal = await authenticate(request, deps.verify_key, deps.known_key)
    device = _query_param(_device_name, request, "device_name", required=True)
    at = _query_param(_timestamp, request, "timestamp", required=False)
    kind = _query_param(_kind, request, "kind", required=False) or "generic"
    body = await read_body(request, deps.settings.max_body_bytes, EXPOSITION)
    content_type = request.headers.get("content-type")
    try:
        samples: list[ExpositionSample] = await run_in_threadpool(
            parse_exposition, body, content_type
        )
    except ExpositionError as exc:
        raise Rejected(
            422,
            "invalid",
            f"not valid exposition text: {exc.reason}",
            line=exc.line_no,
            text=excerpt(exc.text),
        ) from exc
    if at is not None:
        check_window(deps, [("query.timestamp", at.timestamp())])
    _check_sample_text(samples)
    check_window(
        deps,
        (
            (f"sample {excerpt(s.name)}: timestamp", s.timestamp)
            for s in samples
            if s.timestamp is not None
        ),
    )
    default_ms = round((at.timestamp() if at is not None else deps.clock()) * 1000)
    if samples:
        push = PrometheusPush(
            device_name=device,
            content_type=content_type,
            default_timestamp_ms=default_ms,
            text=body.decode("utf-8"),
            kind=kind,
        )
        message = NewMessage(
            PROMETHEUS_TEXT,
            principal.tenant_id,
            push.model_dump_json().encode(),
            key=device_machine_id(device),
        )
        await enqueue(deps, message)
    return {"samples": len(samples), "device_name": device}


async def accept_collection(deps: IngestDeps, request: Request) -> dict[str, Any]:
    principal = await authenticate(request, deps.verify_key, deps.known_key)
    body = await read_body(request, deps.settings.max_body_bytes, COLLECTION_TYPES)
    if media_type(request) == MULTIPART:
        body = multipart_file(body, request.headers["content-type"])
    payloads = await run_in_threadpool(validate_collection, body)
    check_machine(principal, payloads[0].host.machine_id)  # all lines are of one machine
    check_window(
        deps,
        (
            (f"payload {p.batch_id}: snapshots.{i}.timestamp", s.timestamp.timestamp())
            for p in payloads
            for i, s in enumerate(p.snapshots)
        ),
    )
    sha256 = hashlib.sha256(body).hexdigest()
    header = CollectionHeader(
        content_sha256=sha256,
        bytes=len(body),
        uploaded_by=principal.subject,
        received_ms=round(deps.clock() * 1000),
    )
    machine_id = payloads[0].host.machine_id
    message = NewMessage(
        COLLECTION_FILE,
        principal.tenant_id,
        header.model_dump_json().encode() + b"\n" + body,
        key=machine_id,
    )
    await enqueue(deps, message)
    stamps = [s.timestamp for p in payloads for s in p.snapshots]
    return {
        "collection": sha256,
        "machine_id": machine_id,
        "payloads": len(payloads),
        "snapshots": len(stamps),
        "first_timestamp": min(stamps).isoformat(),
        "last_timestamp": max(stamps).isoformat(),
        "bytes": len(body),
    }


Handler = Callable[[IngestDeps, Request], Awaitable[dict[str, Any]]]

ROUTES: tuple[tuple[str, Handler, str], ...] = (
    ("/aggregator/metrics/", accept_metric, "Accept one sample of a named device"),
    ("/aggregator/metrics/batch/", accept_metric_batch, "Accept samples of named devices"),
    ("/ingest/prometheus", accept_prometheus, "Accept pushed exposition for a host"),
    ("/collections", accept_collection, "Upload a local-mode collection file"),
)


def build_device_router(deps: IngestDeps) -> APIRouter:
    router = APIRouter(tags=["ingest"])

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def accept(request: Request) -> Response:
            try:
                result = await handler(deps, request)
            except Rejected as rejected:
                deps.metrics.rejected.labels(rejected.reason).inc()
                return rejected.response()
            deps.metrics.accepted.inc()
            return JSONResponse({"status": "accepted", **result}, status_code=202)

        return accept

    for path, handler, summary in ROUTES:
        router.add_api_route(
            path, endpoint(handler), methods=["POST"], status_code=202, summary=summary
        )
    return router
