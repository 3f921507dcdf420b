"""The wiring `fleetscope server` (cli/server.py) and `fleetscope worker` (cli/worker.py)
share: settings → stream, database engine, store writer upkeep, ingest's settings and key
check (and the standalone ingest app built with them), the live feed's Redis notifier, and the
garbage-collector tuning while serving."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from functools import partial

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.middleware import Middleware

from fleetscope.agent.perfcollector import capture_snapshots
from fleetscope.cli.outage import OutageGuard
from fleetscope.cli.settings import ServerSettings
from fleetscope.ingest.app import app_for
from fleetscope.ingest.intake import IngestDeps, IngestMetrics, IngestSettings
from fleetscope.model.auth import Principal
from fleetscope.store import auth as store_auth
from fleetscope.store import keys as store_keys
from fleetscope.store.engine import make_engine, sqlite_url
from fleetscope.store.maintenance import StoreMaintenance
from fleetscope.store.tenancy import all_tenants
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import Stream
from fleetscope.stream.notify import RedisNotifier
from fleetscope.stream.redis import RedisStream
from fleetscope.stream.sqlite import SQLiteStream
from fleetscope.web.routes.health import RETRY_AFTER_SECONDS

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
            # Ingest's decoded payloads handed to digest (stream/sqlite.py): as many as wait
            # under that backpressure, and a batch more; about 33 KB each for the fleet
            # simulator's payloads, 58 KiB for a 1,000-sample aggregator request
            # (docs/deployment.md, issue 17).
            handoff_max=(
                (SOFT_BACKLOG_BATCHES + 1) * settings.digest_batch_size
                if settings.digest_in_process
                else 0
            ),
        )
    return RedisStream.from_url(
        settings.stream_url,
        prefix=settings.stream_prefix,
        shards=settings.stream_shards,
        visibility_timeout_seconds=settings.stream_visibility_timeout_seconds,
        lease_seconds=settings.stream_lease_seconds,
        max_backlog=settings.stream_max_backlog,
        retry_after_seconds=settings.stream_retry_after_seconds,
        wait_replicas=settings.stream_wait_replicas,
        wait_aof=settings.stream_wait_aof,
    )


def database_url(settings: ServerSettings) -> str:
    """--database, or SQLite in the data directory."""
    return settings.database_url or sqlite_url(settings.data_dir)


def make_store_engine(settings: ServerSettings) -> Engine:
    return make_engine(database_url(settings))


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


def live_notifier(settings: ServerSettings) -> RedisNotifier | None:
    """The live feed's pub/sub channel beside a Redis stream (stream/notify.py); None for the
    embedded stream, whose digest publishes in-process."""
    if settings.stream_url is None:
        return None
    return RedisNotifier.from_url(settings.stream_url, settings.stream_prefix)


def ingest_settings(settings: ServerSettings) -> IngestSettings:
    return IngestSettings(
        max_body_bytes=settings.max_body_bytes,
        host_label=settings.remote_write_host_label,
        max_future_seconds=settings.clock_skew_seconds,
        max_age_seconds=None
        if settings.raw_retention_days is None
        else settings.raw_retention_days * 86400,
    )


def ingest_deps(
    settings: ServerSettings,
    engine: Engine,
    stream: Stream,
    registry: CollectorRegistry,
    *,
    key_clock: Callable[[], float] = time.monotonic,
) -> IngestDeps:
    """Ingest's settings, stream and metrics, and its key check against the database (cached
    by key_clock's seconds)."""
    # Read keys and login sessions' tokens are recognised too, so ingest can answer them 403
    # (known, but only ingest keys send data) instead of 401.
    keys = CachedKeys(partial(_verify_any, engine), clock=key_clock)
    return IngestDeps(
        settings=ingest_settings(settings),
        stream=stream,
        verify_key=keys,
        metrics=IngestMetrics(registry),
        known_key=keys.known,
        read_capture=capture_snapshots,
    )


def standalone_ingest_app(
    settings: ServerSettings,
    engine: Engine,
    stream: Stream,
    registry: CollectorRegistry | None = None,
    *,
    key_clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The scaled layout's ingest alone in front of the shared stream (ingest/app.py), with the
    same key check (cached, KEY_CACHE_SECONDS) and perfcollector capture reader as the full
    server's ingest: every message carries the tenant of the key that sent it, which is where
    the workers store it. The engine is only read, for the keys; when it cannot be reached,
    a key not in the cache is a 503 with Retry-After, as on the server (cli/outage.py)."""
    deps = ingest_deps(
        settings, engine, stream, registry or CollectorRegistry(), key_clock=key_clock
    )
    return app_for(deps, [Middleware(OutageGuard, retry_after_seconds=RETRY_AFTER_SECONDS)])


def _verify_any(engine: Engine, key: str) -> Principal | None:
    # Privileged: a key names its tenant only once it is found (store/tenancy.py).
    with all_tenants():
        return store_keys.verify_key(engine, key) or store_auth.verify_session(engine, key)


# A revoked ingest key (or one of a deactivated tenant) is refused by ingest within this long,
# per server process (docs/accounts.md, "Revoking a key"). Without the cache every payload cost a
# database query (and, with more requests in flight than the pool holds, a new SQLite
# connection); its share of the server's CPU is in docs/deployment.md, "Measured at the wiring".
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


# Python's cyclic GC ran a young collection every 700 allocations, and every tenth of those
# further, full ones walking the whole heap (FastAPI, SQLAlchemy, pydantic: ~100,000 objects
# that live as long as the process), for a few cycles a minute: every payload allocates a
# thousand short-lived objects (decoded Structs, series tuples, rows), which reference
# counting frees anyway. Freezing what start-up built keeps it out of every collection, and
# a higher first threshold makes collections rarer. What it saved per payload is in
# docs/deployment.md ("GC tuned while serving"). Digest in `fleetscope worker` allocates the
# same per payload, so the workers tune it too.
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
