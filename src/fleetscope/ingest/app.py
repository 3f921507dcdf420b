"""A standalone ingest app: intake only, no database, no read API. The scaled-out layout runs
this in front of a shared stream; the embedded server includes the same router."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from fleetscope import __version__
from fleetscope.ingest.router import (
    IngestDeps,
    IngestFastPath,
    IngestMetrics,
    IngestSettings,
    KeyVerifier,
    build_router,
)
from fleetscope.model.schema import payload_json_schema
from fleetscope.stream.base import Stream


def create_app(
    settings: IngestSettings,
    stream: Stream,
    verify_key: KeyVerifier,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    app = FastAPI(title="fleetscope ingest", version=__version__)
    metrics = IngestMetrics(registry or CollectorRegistry())
    deps = IngestDeps(settings, stream, verify_key, metrics)
    app.include_router(build_router(deps))
    app.add_middleware(IngestFastPath, deps=deps)

    @app.get("/api/v1/schema/payload", tags=["ingest"], summary="JSON Schema of the agent payload")
    def payload_schema() -> dict[str, object]:
        return payload_json_schema()

    return app
