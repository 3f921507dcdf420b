"""A standalone ingest app: intake only, no database, no read API. The scaled-out layout runs
this in front of a shared stream; the embedded server includes the same router."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from fleetscope import __version__
from fleetscope.edge.headers import SecurityHeaders
from fleetscope.edge.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit, paths_of
from fleetscope.edge.openapi import complete_openapi
from fleetscope.edge.problem import install_problem_handlers
from fleetscope.ingest.openapi import INGEST_BODIES, INGEST_ERROR_CONTENT, INGEST_PARAMETERS
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
    # No /docs here: the vendored Swagger UI is served by the full server (web/pages.py).
    app = FastAPI(title="fleetscope ingest", version=__version__, docs_url=None, redoc_url=None)
    install_problem_handlers(app)
    metrics = IngestMetrics(registry or CollectorRegistry())
    deps = IngestDeps(settings, stream, verify_key, metrics)
    intake = build_router(deps)
    app.include_router(intake)
    ingest_paths = paths_of(intake)
    app.add_middleware(
        BodyLimit, max_bytes=DEFAULT_MAX_BODY_BYTES, exempt=ingest_paths.__contains__
    )
    app.add_middleware(IngestFastPath, deps=deps)
    app.add_middleware(SecurityHeaders)
    app.openapi = complete_openapi(  # type: ignore[method-assign]
        app,
        public={"/api/v1/schema/payload"},
        bodies=INGEST_BODIES,
        parameters=INGEST_PARAMETERS,
        ingest=ingest_paths,
        error_content=INGEST_ERROR_CONTENT,
    )

    @app.get("/api/v1/schema/payload", tags=["ingest"], summary="JSON Schema of the agent payload")
    def payload_schema() -> dict[str, object]:
        return payload_json_schema()

    return app
