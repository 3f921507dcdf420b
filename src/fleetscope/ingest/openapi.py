"""The request bodies of the ingest routes for the OpenAPI document. The routes read their
bodies themselves (bounded, decompressed, validated by msgspec or pydantic), so FastAPI cannot
see them; edge/openapi.py puts these in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetscope.edge.openapi import Operation, lift_defs
from fleetscope.exposition.parse import OPENMETRICS_MEDIA_TYPE
from fleetscope.model.devices import AggregatorBatch, AggregatorMetric
from fleetscope.model.schema import payload_json_schema

TEXT = {"type": "string"}


def _json(schema: Callable[[], dict[str, Any]], what: str) -> Callable[[dict[str, Any]], Any]:
    def body(schemas: dict[str, Any]) -> dict[str, Any]:
        return {
            "required": True,
            "description": what + " (Content-Encoding gzip or zstd accepted)",
            "content": {"application/json": {"schema": lift_defs(schema(), schemas)}},
        }

    return body


def _named(name: str, schema: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """The schema under its own name in components (its $defs alongside)."""

    def named() -> dict[str, Any]:
        full = schema()
        definitions = full.pop("$defs", {})
        return {"$ref": f"#/$defs/{name}", "$defs": {**definitions, name: full}}

    return named


def _text(schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": True,
        "description": "Prometheus exposition text (0.0.4) or OpenMetrics",
        "content": {"text/plain": {"schema": TEXT}, OPENMETRICS_MEDIA_TYPE: {"schema": TEXT}},
    }


def _collection(schemas: dict[str, Any]) -> dict[str, Any]:
    lines = {"type": "string", "description": "JSON Lines, one agent payload per line"}
    return {
        "required": True,
        "content": {
            "application/x-ndjson": {"schema": lines},
            "application/jsonl": {"schema": lines},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }


def _capture(schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "machine_id"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "a perfcollector capture (JSON Lines of /proc texts)",
                        },
                        "machine_id": {"type": "string", "minLength": 1, "maxLength": 128},
                    },
                }
            }
        },
    }


INGEST_BODIES: dict[Operation, Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("post", "/api/v1/ingest"): _json(
        _named("Payload", payload_json_schema), "an agent payload (GET /api/v1/schema/payload)"
    ),
    ("post", "/api/v1/aggregator/metrics/"): _json(
        _named("AggregatorMetric", AggregatorMetric.model_json_schema),
        "one sample of a named device",
    ),
    ("post", "/api/v1/aggregator/metrics/batch/"): _json(
        _named("AggregatorBatch", AggregatorBatch.model_json_schema), "samples of named devices"
    ),
    ("post", "/api/v1/ingest/prometheus"): _text,
    ("post", "/api/v1/collections"): _collection,
    ("post", "/v1/upload"): _capture,
}

INGEST_PARAMETERS: dict[Operation, list[dict[str, Any]]] = {
    ("post", "/api/v1/ingest/prometheus"): [
        {
            "name": "device_name",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": "the host the samples belong to",
        },
        {
            "name": "timestamp",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "ISO-8601 or epoch seconds: the time of samples without their own",
        },
    ]
}


# OTLP/HTTP answers its refusals with a google.rpc.Status, in the request's encoding (the OTLP
# specification, "Failures"); problem details only come from the layers before it (body limit).
INGEST_ERROR_CONTENT: dict[str, dict[str, Any]] = {
    "/v1/metrics": {
        "application/x-protobuf": {
            "schema": {"type": "string", "format": "binary", "description": "google.rpc.Status"}
        },
        "application/json": {
            "schema": {"type": "object", "description": "google.rpc.Status, OTLP JSON"}
        },
    }
}
