"""The one assembler of ingest into a FastAPI app (`mount_ingest`): the routes, the raw-ASGI
fast path, the body bound of every other route, the payload's JSON Schema. The full server
(cli/server.py) mounts it beside the read API; `create_app` is the standalone ingest app,
intake only, no database, no read API, for the scaled-out layout in front of a shared stream
(cli/wiring.py `standalone_ingest_app` gives it the database's key check and the
perfcollector capture reader, as the full server's ingest has them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.middleware import Middleware

from fleetscope import __version__
from fleetscope.edge.headers import SecurityHeaders
from fleetscope.edge.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit, paths_of
from fleetscope.edge.openapi import complete_openapi
from fleetscope.edge.problem import install_problem_handlers
from fleetscope.ingest.intake import (
    CaptureReader,
    IngestDeps,
    IngestMetrics,
    IngestSettings,
    KeyVerifier,
)
from fleetscope.ingest.openapi import INGEST_BODIES, INGEST_ERROR_CONTENT, INGEST_PARAMETERS
from fleetscope.ingest.perfcollector import build_pcd_router
from fleetscope.ingest.router import IngestFastPath, build_router
from fleetscope.model.schema import payload_json_schema
from fleetscope.stream.base import Stream

PAYLOAD_SCHEMA_PATH = "/api/v1/schema/payload"


@dataclass(frozen=True)
class MountedIngest:
    """What the app's OpenAPI document needs to know of the ingest it holds."""

    paths: frozenset[str]  # answered by ingest: its refusals differ from the read API's
    public: frozenset[str]  # served without credentials


def mount_ingest(
    app: FastAPI, deps: IngestDeps, *, max_request_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> MountedIngest:
    """Add ingest's routes and its two middlewares to `app`. Ingest bounds its own bodies,
    with a larger limit; every other route of the app reads at most `max_request_bytes`.
    A middleware added after this call is outside the fast path, so it sees what the fast
    path answers (request metrics, security headers)."""
    intake = build_router(deps)
    app.include_router(intake)
    pcd = build_pcd_router()
    app.include_router(pcd)

    @app.get(PAYLOAD_SCHEMA_PATH, tags=["ingest"], summary="JSON Schema of the agent payload")
    def payload_schema() -> JSONResponse:
        return JSONResponse(payload_json_schema())

    paths = frozenset(paths_of(intake))
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes, exempt=paths.__contains__)
    app.add_middleware(IngestFastPath, deps=deps)
    return MountedIngest(paths, frozenset({PAYLOAD_SCHEMA_PATH, *paths_of(pcd)}))


def create_app(
    settings: IngestSettings,
    stream: Stream,
    verify_key: KeyVerifier,
    registry: CollectorRegistry | None = None,
    *,
    known_key: KeyVerifier | None = None,
    read_capture: CaptureReader | None = None,
) -> FastAPI:
    """known_key: the key cache's lookup that never blocks (IngestDeps.known_key);
    read_capture: the perfcollector capture reader for POST /v1/upload (without it, 501)."""
    metrics = IngestMetrics(registry or CollectorRegistry())
    return app_for(
        IngestDeps(
            settings,
            stream,
            verify_key,
            metrics,
            known_key=known_key,
            read_capture=read_capture,
        )
    )


def app_for(deps: IngestDeps, middleware: Sequence[Middleware] = ()) -> FastAPI:
    """The standalone ingest app over deps that are already built (their metrics registered).
    `middleware` goes around ingest and inside the security headers, which then also mark
    what it answers (cli's outage guard: 503 when the key check cannot reach the database)."""
    # No /docs here: the vendored Swagger UI is served by the full server (web/pages.py).
    app = FastAPI(title="fleetscope ingest", version=__version__, docs_url=None, redoc_url=None)
    install_problem_handlers(app)
    mounted = mount_ingest(app, deps)
    for layer in middleware:
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    app.add_middleware(SecurityHeaders)
    app.openapi = complete_openapi(  # type: ignore[method-assign]
        app,
        public=mounted.public,
        bodies=INGEST_BODIES,
        parameters=INGEST_PARAMETERS,
        ingest=mounted.paths,
        error_content=INGEST_ERROR_CONTENT,
    )
    return app
