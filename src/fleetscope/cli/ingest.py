"""`fleetscope ingest`: ingest alone, in front of a shared Redis stream (the scaled layout).
It answers what agents, collection-file uploads, perfcollector clients (/v1/upload), remote
write and OTLP send, with keys checked against the database (cached, docs/accounts.md), and
enqueues for `fleetscope worker`s; no read API, no dashboard, no digest. /livez, /readyz (the
database and the stream) and /metrics beside it, for a load balancer and Prometheus.

It neither migrates nor bootstraps the database: `fleetscope server` does, so one server (or
`fleetscope admin … --database`) comes first, as before the workers."""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import FrameType

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine, text

from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.startup import uvicorn_server
from fleetscope.cli.wiring import (
    make_store_engine,
    make_stream,
    restore_gc,
    standalone_ingest_app,
    tune_gc,
)
from fleetscope.stream.base import Stream
from fleetscope.web.routes.health import Dependency, build_health_router

log = logging.getLogger(__name__)


@dataclass
class IngestProcess:
    app: FastAPI
    engine: Engine
    stream: Stream


def build_ingest(settings: ServerSettings) -> IngestProcess:
    """The app, its engine and stream; raises when the database or the stream cannot be
    reached (start_errors makes that one line), so a wrong URL is not found at the first
    payload."""
    if settings.stream_url is None:
        raise ValueError("fleetscope ingest needs a shared stream (--stream redis://…)")
    engine = make_store_engine(settings)
    stream = make_stream(settings)
    try:
        _ping(engine)
        stream.ping()
    except BaseException:
        stream.close()
        engine.dispose()
        raise
    registry = CollectorRegistry()
    app = standalone_ingest_app(settings, engine, stream, registry)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tuned = tune_gc()
        try:
            async with inner(app):
                yield
        finally:
            stream.close()
            engine.dispose()
            restore_gc(tuned)

    app.router.lifespan_context = lifespan

    @app.get("/livez", tags=["health"], include_in_schema=False)
    def livez() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(
        build_health_router(
            [Dependency("database", lambda: _ping(engine)), Dependency("stream", stream.ping)],
            lambda _request: None,  # no sessions here: /readyz answers as to anyone
            stream.dead_letter_count,
        ),
        include_in_schema=False,
    )

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return IngestProcess(app, engine, stream)


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def serve_ingest(settings: ServerSettings) -> None:
    """Under uvicorn until SIGINT or SIGTERM, then exit 0 once the answers in flight are
    sent (every 2xx was enqueued before it was sent)."""
    built = build_ingest(settings)
    uv_server = uvicorn_server(built.app, settings)

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        # As `fleetscope server` (cli/up.py): the flag set directly, since uvicorn's own
        # handler raises the signal again after shutdown, and a graceful stop exits 0.
        if uv_server.should_exit and sig == signal.SIGINT:
            uv_server.force_exit = True
        uv_server.should_exit = True

    uv_server.handle_exit = handle_exit  # type: ignore[method-assign]
    scheme = "http" if settings.tls_cert_file is None else "https"
    log.info("fleetscope ingest on %s://%s:%d", scheme, settings.host, settings.port)
    uv_server.run()
