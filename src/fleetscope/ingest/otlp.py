"""POST /v1/metrics: OTLP/HTTP metrics (opentelemetry.io/docs/specs/otlp, "OTLP/HTTP"), in
binary protobuf (application/x-protobuf) or the OTLP JSON encoding (application/json), gzip
or zstd as the other endpoints take them. How points become series: ingest/otlp_translate.py.

Same key check and body bound as the other ingest endpoints. The answers are OTLP's:
- 200 with an ExportMetricsServiceResponse in the request's encoding once the request is in
  the stream on disk; when some points could not be taken, its partial_success says how
  many and why (the others are stored; a client must not resend);
- 400 for a body that does not decode, 401/403 for the key, 413 too large, 415 for another
  Content-Type: never retried;
- 429 (stream full) and 503 (stream down) with Retry-After, which OTLP clients retry.
Error bodies are a google.rpc.Status in the request's encoding, as the spec asks.
"""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from google.protobuf.json_format import MessageToJson, Parse, ParseError
from google.protobuf.message import DecodeError, Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from fleetscope.ingest.intake import (
    IngestDeps,
    Rejected,
    authenticate_headers,
    enqueue,
    header_media_type,
    read_headers_body,
)
from fleetscope.ingest.otlp_translate import Translation, translate
from fleetscope.model.devices import body_batch_id
from fleetscope.model.kinds import SERIES_SAMPLES
from fleetscope.model.samples import encode_samples
from fleetscope.stream.base import NewMessage

METRICS_PATH = "/v1/metrics"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# google.rpc.Code for each HTTP status we answer with (google/rpc/code.proto).
_RPC_CODES = {400: 3, 401: 16, 403: 7, 413: 3, 415: 3, 429: 8, 503: 14}


def parse_request(body: bytes, content_type: str) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    try:
        if content_type == JSON:
            # OTLP JSON: lowerCamelCase or original field names, 64-bit integers as strings
            # or numbers, enums as integers; unknown fields must be ignored (the spec).
            Parse(body, request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except (DecodeError, ParseError, UnicodeDecodeError) as exc:
        encoding = "JSON" if content_type == JSON else "protobuf"
        raise Rejected(
            400, "invalid", f"body is not an OTLP ExportMetricsServiceRequest in {encoding}: {exc}"
        ) from exc
    return request


def _parse(body: bytes, content_type: str) -> Translation:
    return translate(parse_request(body, content_type))


def _encode(message: Message, content_type: str) -> bytes:
    if content_type == JSON:
        return MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


async def accept_metrics(deps: IngestDeps, request: Request) -> Translation:
    principal = await authenticate_headers(request.headers, deps.verify_key, deps.known_key)
    content_type = header_media_type(request.headers, PROTOBUF)
    body = await read_headers_body(
        request.headers, request.stream(), deps.settings.max_body_bytes, (PROTOBUF, JSON)
    )
    result = await run_in_threadpool(_parse, body, content_type)
    if result.series or result.metadata:
        # The request's own id: an exporter resends the same export when an answer is lost.
        batch = msgspec.structs.replace(
            result.batch(round(deps.clock() * 1000)), batch_id=body_batch_id(body)
        )
        await enqueue(deps, NewMessage(SERIES_SAMPLES, principal.tenant_id, encode_samples(batch)))
    return result


def build_otlp_router(deps: IngestDeps) -> APIRouter:
    router = APIRouter(tags=["ingest"])

    @router.post(
        METRICS_PATH,
        summary="Accept OTLP/HTTP metrics (protobuf or JSON)",
        responses={
            200: {
                "description": "ExportMetricsServiceResponse, in the request's encoding",
                "content": {
                    PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                    JSON: {"schema": {"type": "object"}},
                },
            }
        },
    )
    async def metrics(request: Request) -> Response:
        content_type = header_media_type(request.headers, PROTOBUF)
        answer_type = JSON if content_type == JSON else PROTOBUF
        try:
            result = await accept_metrics(deps, request)
        except Rejected as rejected:
            deps.metrics.rejected.labels(rejected.reason).inc()
            status = Status(code=_RPC_CODES.get(rejected.status, 2), message=rejected.message)
            return Response(
                _encode(status, answer_type),
                status_code=rejected.status,
                headers=rejected.headers,
                media_type=answer_type,
            )
        deps.metrics.accepted.inc()
        response = ExportMetricsServiceResponse()
        if result.rejected:
            response.partial_success.CopyFrom(
                ExportMetricsPartialSuccess(
                    rejected_data_points=result.rejected, error_message="; ".join(result.errors)
                )
            )
        return Response(_encode(response, answer_type), status_code=200, media_type=answer_type)

    return router
