"""Composition of the server: settings → engine, stream, digest, and one FastAPI app with
ingest, the reporting API, health and metrics. The embedded layout runs digest in-process; with
a Redis stream, `fleetscope worker` processes digest instead (cli/worker.py)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetscope import __version__
from fleetscope.cli.alerting import attach_alerts
from fleetscope.cli.analyses import install_analyses
from fleetscope.cli.outage import OutageGuard
from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.tenant_wall import TenantWall
from fleetscope.cli.wiring import (
    ingest_deps,
    live_notifier,
    make_store_engine,
    make_stream,
    restore_gc,
    store_maintenance,
    tune_gc,
)
from fleetscope.digest.worker import DigestWorker
from fleetscope.edge.headers import SecurityHeaders
from fleetscope.edge.openapi import complete_openapi
from fleetscope.edge.problem import install_problem_handlers
from fleetscope.ingest.app import mount_ingest
from fleetscope.ingest.openapi import INGEST_BODIES, INGEST_ERROR_CONTENT, INGEST_PARAMETERS
from fleetscope.query.accounts import AccountService
from fleetscope.query.auth import AuthService
from fleetscope.query.collectors import CollectorQueries
from fleetscope.query.fleet import FleetQueries
from fleetscope.query.hosts import HostQueries
from fleetscope.query.inventory import InventoryQueries
from fleetscope.query.live import LiveHub, LiveRelay
from fleetscope.query.metrics import MetricQueries
from fleetscope.query.processes import ProcessQueries
from fleetscope.query.promql.engine import PromEngine
from fleetscope.query.promql.store import PromStore
from fleetscope.store import auth as store_auth
from fleetscope.store.engine import migrate
from fleetscope.store.startup import startup_turn
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import Stream, StreamUnavailable, unique_consumer_name
from fleetscope.stream.notify import RedisNotifier
from fleetscope.web.api import build_router as read_router
from fleetscope.web.live import build_live_router
from fleetscope.web.pages import mount_dashboard
from fleetscope.web.routes.collectors import build_collectors_router
from fleetscope.web.routes.health import RETRY_AFTER_SECONDS as OUTAGE_RETRY_AFTER_SECONDS
from fleetscope.web.routes.health import Dependency, build_health_router
from fleetscope.web.routes.prometheus import build_prometheus_router
from fleetscope.web.services import ReadServices

log = logging.getLogger(__name__)


@dataclass
class Server:
    settings: ServerSettings
    engine: Engine
    stream: Stream
    digest: DigestWorker
    app: FastAPI
    registry: CollectorRegistry
    live: LiveHub


def build_server(settings: ServerSettings) -> Server:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_store_engine(settings)
    # Scaled-out servers started together on a new database take turns (store/startup.py).
    with startup_turn(engine):
        return _build_server(settings, engine)


def _build_server(settings: ServerSettings, engine: Engine) -> Server:
    migrate(engine)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    store_auth.bootstrap(engine, settings.data_dir, password)
    stream = make_stream(settings)
    registry = CollectorRegistry()
    batch_latency = Histogram(
        "fleetscope_digest_batch_seconds", "Time to digest one batch of messages", registry=registry
    )
    rolled_up = Counter(
        "fleetscope_rollup_buckets_total",
        "Rollup buckets (minutes and hours) recomputed by this process's digest",
        registry=registry,
    )
    writer = StoreWriter(engine)
    maintenance = store_maintenance(settings, writer)
    try:
        maintenance.maintain()  # partitions for today and ahead before the first write
    except SQLAlchemyError as exc:
        # A worker holding the database (SQLite) must not stop the server from starting:
        # the writers maintain again within the hour, and partitions are also made on demand.
        log.warning("start-up maintenance deferred: %s", exc)
    # The dashboard's live feed: from the in-process digest, or with a Redis stream from
    # every digest (workers' and this one's) through Redis pub/sub (query/live.py).
    live = LiveHub()
    notifier = live_notifier(settings)
    relay = LiveRelay(send=None if notifier is None else notifier.publish, hub=live)
    digest = DigestWorker(
        stream,
        writer,
        consumer=unique_consumer_name(),  # servers that digest on one Redis stream each beat
        maintenance=maintenance,
        batch_size=settings.digest_batch_size,
        on_batch=batch_latency.observe,
        on_rolled_up=rolled_up.inc,
        on_written=live.publish_written if notifier is None else relay.on_written,
    )
    app = create_app(
        settings, engine, stream, digest if settings.digest_in_process else None, registry, live
    )
    if notifier is not None:
        _listen_while_serving(app, notifier, relay)
    attach_alerts(app, settings, engine, evaluate=settings.digest_in_process)
    return Server(settings, engine, stream, digest, app, registry, live)


def _listen_while_serving(app: FastAPI, notifier: RedisNotifier, relay: LiveRelay) -> None:
    """Subscribe for the app's life (around its own lifespan)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        notifier.subscribe(relay.deliver)
        try:
            async with inner(app):
                yield
        finally:
            notifier.close()

    app.router.lifespan_context = lifespan


# Refusals a route answers besides the ones every route of its kind may (edge/openapi.py).
_PROMETHEUS_QUERIES = ("query", "query_range", "series")
REFUSALS: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/api/v1/auth/login"): (401, 429),  # throttled: Retry-After
    ("post", "/api/v1/tenants"): (409,),  # name taken
    ("patch", "/api/v1/tenants/{tenant_id}"): (409,),  # name taken; one's own deactivated
    ("post", "/api/v1/users"): (404, 409),  # no such tenant; name taken, tenant has an admin
    ("patch", "/api/v1/users/{user_id}"): (409,),  # the last admin; oneself
    ("post", "/api/v1/users/{user_id}/password"): (409,),  # one's own: /me/password
    ("post", "/api/v1/me/password"): (400, 429),  # wrong current password; throttled
    ("get", "/api/v1/audit"): (404,),  # another tenant's, asked by a non-superuser
    ("get", "/readyz"): (503,),
    ("post", "/api/v1/analyses"): (404,),  # no such host or collection file
    ("post", "/api/v1/collectors"): (409,),  # that site and machine are taken
    ("patch", "/api/v1/collectors/{collector_id}"): (409,),
    ("post", "/api/v1/alerts/rules"): (400, 409),  # cannot be evaluated; name taken
    ("put", "/api/v1/alerts/rules/{rule_id}"): (400, 409),
    ("patch", "/api/v1/alerts/rules/{rule_id}"): (400, 409),
    ("delete", "/api/v1/alerts/rules/{rule_id}"): (409,),  # a ready-made rule: disable it
    **{
        (method, f"/prometheus/api/v1/{name}"): (400, 422)  # bad_data, execution
        for method in ("get", "post")
        for name in _PROMETHEUS_QUERIES
    },
}
# The Prometheus API answers its own error JSON ({"status": "error", "errorType", "error"}).
PROMETHEUS_ERROR_CONTENT = {
    f"/prometheus/api/v1/{name}": {
        "application/json": {
            "schema": {"type": "object", "description": "Prometheus' error: status, errorType"}
        }
    }
    for name in (*_PROMETHEUS_QUERIES, "labels", "label/{name}/values", "metadata")
}


def _mount_read_side(
    app: FastAPI, settings: ServerSettings, engine: Engine, services: ReadServices
) -> None:
    """The read API, analyses, the Prometheus API, the live feed and the dashboard."""
    app.include_router(read_router(services))
    install_analyses(app, settings, engine, services)
    app.include_router(build_collectors_router(services, CollectorQueries(engine)))
    app.include_router(build_prometheus_router(services, PromEngine(PromStore(engine))))
    app.include_router(build_live_router(services))
    mount_dashboard(app, services)


def _add_fixed_routes(app: FastAPI) -> None:
    """Routes that need nothing of the server's state."""

    @app.get("/livez", tags=["health"])
    def livez() -> dict[str, str]:
        return {"status": "ok"}


def create_app(
    settings: ServerSettings,
    engine: Engine,
    stream: Stream,
    digest: DigestWorker | None,
    registry: CollectorRegistry,
    live: LiveHub | None = None,
) -> FastAPI:
    """The HTTP app. With `digest`, the embedded layout: it runs in a thread for the app's life
    and drains what was accepted on shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tuned = tune_gc()
        thread = None
        if digest is not None:
            thread = threading.Thread(target=digest.run, name="digest", daemon=True)
            thread.start()
        try:
            yield
        finally:
            if digest is not None and thread is not None:
                digest.stop()
                thread.join(timeout=10)
                drained = digest.drain(settings.drain_timeout_seconds)
                log.info(
                    "digest %s on shutdown",
                    "drained" if drained else "left messages for next start",
                )
            stream.close()
            engine.dispose()
            restore_gc(tuned)

    # /docs and /redoc come from the vendored assets (web/pages.py), never a CDN.
    app = FastAPI(
        title="fleetscope", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    install_problem_handlers(app)
    # Mounted before _instrument: the last middleware added is the outermost, and the request
    # metrics must see what ingest's fast path answers.
    ingest = mount_ingest(
        app,
        ingest_deps(settings, engine, stream, registry),
        max_request_bytes=settings.max_request_bytes,
    )
    app.add_middleware(OutageGuard, retry_after_seconds=OUTAGE_RETRY_AFTER_SECONDS)
    _instrument(app, registry, stream)
    app.add_middleware(SecurityHeaders)  # every response, the fast path's too
    app.add_middleware(TenantWall)  # outermost: everything a request does is walled
    services = ReadServices(
        AuthService(engine),
        HostQueries(engine),
        MetricQueries(engine),
        FleetQueries(engine),
        ProcessQueries(engine),
        InventoryQueries(engine),
        live or LiveHub(),
        accounts=AccountService(engine),
    )
    _mount_read_side(app, settings, engine, services)

    _add_fixed_routes(app)

    app.include_router(
        build_health_router(
            [Dependency("database", lambda: _ping(engine)), Dependency("stream", stream.ping)],
            lambda request: None if (found := services.session(request)) is None else found[0],
            stream.dead_letter_count,
        )
    )

    app.openapi = complete_openapi(  # type: ignore[method-assign]
        app,
        public={"/api/v1/auth/login", "/api/v1/auth/logout", "/livez", "/readyz"} | ingest.public,
        bodies=INGEST_BODIES,
        parameters=INGEST_PARAMETERS,
        ingest=ingest.paths,
        error_content={**INGEST_ERROR_CONTENT, **PROMETHEUS_ERROR_CONTENT},
        extra=REFUSALS,
    )

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _or_nan(measure: Callable[[], float]) -> float:
    """A gauge of an unreachable stream is NaN (unknown), so /metrics still answers and
    /readyz says why."""
    try:
        return measure()
    except StreamUnavailable:
        return math.nan


def _instrument(app: FastAPI, registry: CollectorRegistry, stream: Stream) -> None:
    requests = Counter(
        "fleetscope_http_requests_total",
        "HTTP requests",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "fleetscope_http_request_seconds", "HTTP request latency", ["route"], registry=registry
    )
    depth = Gauge(
        "fleetscope_stream_depth", "Messages accepted but not yet digested", registry=registry
    )
    depth.set_function(lambda: _or_nan(lambda: float(stream.depth())))
    lag = Gauge(
        "fleetscope_digest_lag_seconds", "Age of the oldest undigested message", registry=registry
    )
    lag.set_function(lambda: _or_nan(lambda: stream.oldest_age_seconds() or 0.0))
    dead = Gauge(
        "fleetscope_dead_letters",
        "Messages digest could not store (`fleetscope admin dead-letters list`)",
        registry=registry,
    )
    dead.set_function(lambda: _or_nan(lambda: float(stream.dead_letter_count())))

    app.add_middleware(_RequestMetrics, requests=requests, latency=latency)


class _RequestMetrics:
    """Counts requests and observes their latency by route template (not the raw path, so
    host names do not explode label cardinality). A plain ASGI middleware: Starlette's
    BaseHTTPMiddleware (@app.middleware) wraps every response in a streaming one and runs the
    app in a task of its own, a cost measured under the fleet simulator (docs/deployment.md,
    "Measured at the wiring")."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app answers: an exception that escapes it is a 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router sets "route" in this same scope dict.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(route).observe(time.perf_counter() - started)
