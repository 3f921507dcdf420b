"""Composition of the server: settings → engine, stream, digest, and one FastAPI app with
ingest, the reporting API, health and metrics. The embedded layout runs digest in-process; with
a Redis stream, `fleetscope worker` processes digest instead (cli/worker.py)."""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
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
from fleetscope.digest.worker import DigestWorker
from fleetscope.edge.headers import SecurityHeaders
from fleetscope.edge.limits import BodyLimit, paths_of
from fleetscope.edge.openapi import complete_openapi
from fleetscope.edge.problem import install_problem_handlers
from fleetscope.ingest.openapi import INGEST_BODIES, INGEST_ERROR_CONTENT, INGEST_PARAMETERS
from fleetscope.ingest.router import (
    IngestDeps,
    IngestFastPath,
    IngestMetrics,
    IngestSettings,
)
from fleetscope.ingest.router import (
    build_router as ingest_router,
)
from fleetscope.model.auth import Principal
from fleetscope.model.schema import payload_json_schema
from fleetscope.query.auth import AuthService
from fleetscope.query.fleet import FleetQueries
from fleetscope.query.hosts import HostQueries
from fleetscope.query.inventory import InventoryQueries
from fleetscope.query.live import LiveHub, LiveRelay
from fleetscope.query.metrics import MetricQueries
from fleetscope.query.processes import ProcessQueries
from fleetscope.query.promql.engine import PromEngine
from fleetscope.query.promql.store import PromStore
from fleetscope.store import auth as store_auth
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import Stream, StreamUnavailable
from fleetscope.stream.notify import RedisNotifier
from fleetscope.stream.redis import RedisStream
from fleetscope.stream.sqlite import SQLiteStream
from fleetscope.web.api import build_router as read_router
from fleetscope.web.live import build_live_router
from fleetscope.web.pages import mount_dashboard
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


def store_maintenance(settings: ServerSettings, writer: StoreWriter) -> StoreMaintenance:
    """The upkeep of the store that a digest loop runs beside this writer's writes."""
    return StoreMaintenance(
        writer.engine,
        writer.partitions,
        raw_retention_days=settings.raw_retention_days,
        rollup_1m_retention_days=settings.rollup_1m_retention_days,
        rollup_1h_retention_days=settings.rollup_1h_retention_days,
        process_rollup_retention_days=settings.process_rollup_retention_days,
    )


def build_server(settings: ServerSettings) -> Server:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url or sqlite_url(settings.data_dir))
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
    notifier = None
    if settings.stream_url is not None:
        notifier = RedisNotifier.from_url(settings.stream_url, settings.stream_prefix)
    relay = LiveRelay(send=None if notifier is None else notifier.publish, hub=live)
    digest = DigestWorker(
        stream,
        writer,
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


SOFT_BACKLOG_BATCHES = 4


def make_stream(settings: ServerSettings) -> Stream:
    """The embedded SQLite stream in data_dir, or Redis Streams at stream_url."""
    if settings.stream_url is None:
        return SQLiteStream(
            settings.data_dir / "stream.db",
            visibility_timeout_seconds=settings.stream_visibility_timeout_seconds,
            max_backlog=settings.stream_max_backlog,
            max_backlog_bytes=settings.stream_max_backlog_bytes,
            retry_after_seconds=settings.stream_retry_after_seconds,
            # Backpressure (stream/sqlite.py) when digest shares this process's GIL: a few
            # batches of backlog keep digest's batches full; more only waits in the stream.
            soft_backlog=(
                SOFT_BACKLOG_BATCHES * settings.digest_batch_size
                if settings.digest_in_process
                else None
            ),
        )
    return RedisStream.from_url(
        settings.stream_url,
        prefix=settings.stream_prefix,
        shards=settings.stream_shards,
        visibility_timeout_seconds=settings.stream_visibility_timeout_seconds,
        max_backlog=settings.stream_max_backlog,
        retry_after_seconds=settings.stream_retry_after_seconds,
        wait_replicas=settings.stream_wait_replicas,
        wait_aof=settings.stream_wait_aof,
    )


# Refusals a route answers besides the ones every route of its kind may (edge/openapi.py).
_PROMETHEUS_QUERIES = ("query", "query_range", "series")
REFUSALS: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/api/v1/auth/login"): (401,),
    ("get", "/readyz"): (503,),
    ("post", "/api/v1/analyses"): (404,),  # no such host or collection file
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
    app.include_router(build_prometheus_router(services, PromEngine(PromStore(engine))))
    app.include_router(build_live_router(services))
    mount_dashboard(app, services)


def _add_fixed_routes(app: FastAPI) -> None:
    """Routes that need nothing of the server's state."""

    @app.get("/api/v1/schema/payload", tags=["ingest"], summary="JSON Schema of the agent payload")
    def payload_schema() -> JSONResponse:
        return JSONResponse(payload_json_schema())

    @app.get("/livez", tags=["health"])
    def livez() -> dict[str, str]:
        return {"status": "ok"}


def ingest_settings(settings: ServerSettings) -> IngestSettings:
    return IngestSettings(
        max_body_bytes=settings.max_body_bytes,
        host_label=settings.remote_write_host_label,
        max_future_seconds=settings.clock_skew_seconds,
        max_age_seconds=None
        if settings.raw_retention_days is None
        else settings.raw_retention_days * 86400,
    )


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
    # A login session's token is recognised too, so ingest can answer it 403 (known, but
    # only agent keys send data) instead of 401.
    keys = CachedKeys(
        lambda key: store_auth.verify_api_key(engine, key) or store_auth.verify_session(engine, key)
    )
    ingest_deps = IngestDeps(
        settings=ingest_settings(settings),
        stream=stream,
        verify_key=keys,
        metrics=IngestMetrics(registry),
        known_key=keys.known,
    )
    intake = ingest_router(ingest_deps)
    app.include_router(intake)
    # Ingest bounds its own bodies, with a larger limit; every other route gets this one.
    ingest_paths = paths_of(intake)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_request_bytes, exempt=ingest_paths.__contains__
    )
    # Added before _instrument: the last middleware added is the outermost, and the request
    # metrics must see what the fast path answers.
    app.add_middleware(IngestFastPath, deps=ingest_deps)
    app.add_middleware(OutageGuard, retry_after_seconds=OUTAGE_RETRY_AFTER_SECONDS)
    _instrument(app, registry, stream)
    app.add_middleware(SecurityHeaders)  # outermost: every response, the fast path's too
    services = ReadServices(
        AuthService(engine),
        HostQueries(engine),
        MetricQueries(engine),
        FleetQueries(engine),
        ProcessQueries(engine),
        InventoryQueries(engine),
        live or LiveHub(),
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
        public={"/api/v1/auth/login", "/api/v1/auth/logout", "/livez", "/readyz"}
        | {"/api/v1/schema/payload"},
        bodies=INGEST_BODIES,
        parameters=INGEST_PARAMETERS,
        ingest=ingest_paths,
        error_content={**INGEST_ERROR_CONTENT, **PROMETHEUS_ERROR_CONTENT},
        extra=REFUSALS,
    )

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


# Python's cyclic GC ran a young collection every 700 allocations, and every tenth of those
# further, full ones walking the whole heap (FastAPI, SQLAlchemy, pydantic: ~100,000 objects
# that live as long as the process), for a few cycles a minute: every payload allocates a
# thousand short-lived objects (decoded Structs, series tuples, rows), which reference
# counting frees anyway. Freezing what start-up built keeps it out of every collection, and
# a higher first threshold makes collections rarer: digest's CPU per payload fell by about
# 15 % (0.53 -> 0.45 ms, 5,120 payloads digested in-process, ad hoc; the simulator run is in
# docs/deployment.md).
GC_GEN0_THRESHOLD = 10_000


def tune_gc() -> tuple[int, int, int]:
    """Freeze the objects start-up made and raise the first GC threshold while serving;
    returns the thresholds to restore."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, before[1], before[2])
    return before


def restore_gc(before: tuple[int, int, int]) -> None:
    gc.set_threshold(*before)
    gc.unfreeze()


# A revoked API key is refused within this long. Without the cache every payload cost a
# database query (and, with more requests in flight than the pool holds, a new SQLite
# connection): 15 % of the embedded server's CPU under bench/fleet_simulator.py.
KEY_CACHE_SECONDS = 10.0
_KEY_CACHE_MAX = 10_000


class CachedKeys:
    """Remembers API keys that verified, for KEY_CACHE_SECONDS. A key that did not verify is
    asked again every time, so a key just created works at once."""

    def __init__(
        self,
        verify: Callable[[str], Principal | None],
        ttl_seconds: float = KEY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verify = verify
        self._ttl = ttl_seconds
        self._clock = clock
        self._known: dict[str, tuple[float, Principal]] = {}

    def known(self, key: str) -> Principal | None:
        """The principal of a key verified less than the TTL ago; None otherwise. No I/O."""
        known = self._known.get(key)
        if known is not None and known[0] > self._clock():
            return known[1]
        return None

    def __call__(self, key: str) -> Principal | None:
        now = self._clock()
        known = self._known.get(key)
        if known is not None and known[0] > now:
            return known[1]
        principal = self._verify(key)
        if principal is None:
            self._known.pop(key, None)
            return None
        if len(self._known) >= _KEY_CACHE_MAX:  # many distinct keys: start over, stay small
            self._known.clear()
        self._known[key] = (now + self._ttl, principal)
        return principal


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
    app in a task of its own: about 7 % of the embedded server's CPU under the fleet
    simulator (py-spy)."""

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
