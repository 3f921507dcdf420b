"""`fleetscope worker`: digest workers in a process of their own, consuming a shared Redis
stream into the store, so digest scales out apart from ingest.

Each worker thread is one consumer of the group, named <consumer>-<n> (the consumer defaults to
hostname-pid-random, so no two processes share a name; a dead one's pending messages are taken
over once its lease expires, stream/redis_lease.py).
SIGTERM or SIGINT: every thread finishes and acknowledges the batch it holds, then the process
exits 0. A worker SIGKILLed mid-batch leaves its messages pending; another worker claims them.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from sqlalchemy import make_url, text

from fleetscope.cli.alerting import EvaluatorThread
from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.startup import redacted
from fleetscope.cli.wiring import (
    database_url,
    make_store_engine,
    make_stream,
    restore_gc,
    store_maintenance,
    tune_gc,
)
from fleetscope.digest.worker import DigestWorker
from fleetscope.query.live import LiveRelay
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import unique_consumer_name
from fleetscope.stream.notify import RedisNotifier

log = logging.getLogger(__name__)


class WorkerPool:
    """`concurrency` DigestWorker threads over one stream and one engine."""

    def __init__(self, settings: ServerSettings, consumer: str, concurrency: int) -> None:
        if settings.stream_url is None:
            raise ValueError(
                "a worker needs a shared stream (--stream redis://…); the embedded SQLite "
                "stream is digested by the server that owns it"
            )
        self.database_url = database_url(settings)
        self.engine = make_store_engine(settings)
        self.stream = make_stream(settings)
        names = [consumer] if concurrency == 1 else [f"{consumer}-{n}" for n in range(concurrency)]
        writers = [StoreWriter(self.engine) for _ in names]
        # The dashboards' live feed: what is written here reaches every server (query/live.py).
        self.notifier = RedisNotifier.from_url(settings.stream_url, settings.stream_prefix)
        relay = LiveRelay(send=self.notifier.publish)
        # No maintain() here: each digest loop maintains hourly before its writes, and backs
        # off on database errors; at start-up two workers doing it at once on SQLite lock out.
        self.workers = [
            DigestWorker(
                self.stream,
                writer,
                maintenance=store_maintenance(settings, writer),
                consumer=name,
                batch_size=settings.digest_batch_size,
                on_written=relay.on_written,
            )
            for name, writer in zip(names, writers, strict=True)
        ]
        self._threads = [
            threading.Thread(target=w.run, name=f"digest-{w.consumer}") for w in self.workers
        ]
        self._stopping = threading.Event()
        # Every worker runs an evaluator; the lease lets one evaluate at a time.
        self.alerts = (
            EvaluatorThread(settings, self.engine, consumer) if settings.alerts_evaluate else None
        )
        self.preflight()
        log.info(
            "digest workers %s: %s into %s",
            ", ".join(names),
            redacted(settings.stream_url),
            make_url(self.database_url).render_as_string(hide_password=True),
        )

    def preflight(self) -> None:
        """Raise at start-up when the database or the stream cannot be reached: a wrong URL
        would otherwise only show as warnings of a worker that backs off for ever."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        self.stream.ping()

    def run(self) -> bool:
        """Digest until stop(); return once every worker has acknowledged its last batch.
        False when a worker thread died of an unexpected error (the others are stopped too,
        so a supervisor restarts the whole process rather than it limping on)."""
        for thread in self._threads:
            thread.start()
        if self.alerts is not None:
            self.alerts.start()
        healthy = True
        while not self._stopping.wait(0.5):
            if not all(thread.is_alive() for thread in self._threads):
                log.error("a digest worker thread died; stopping the others")
                healthy = False
                break
        for worker in self.workers:
            worker.stop()
        if self.alerts is not None:
            self.alerts.stop()
        for thread in self._threads:
            thread.join()
        self.stream.close()
        self.notifier.close()
        self.engine.dispose()
        stats = [w.stats for w in self.workers]
        log.info(
            "digest workers stopped: %d batches written, %d duplicates skipped, "
            "%d messages dead-lettered",
            sum(s.batches_written for s in stats),
            sum(s.batches_duplicate for s in stats),
            sum(s.messages_dead_lettered for s in stats),
        )
        return healthy

    def stop(self) -> None:
        self._stopping.set()


def run_workers(settings: ServerSettings, consumer: str | None, concurrency: int | None) -> bool:
    pool = WorkerPool(
        settings, consumer or unique_consumer_name(), concurrency or settings.worker_concurrency
    )

    def on_signal(sig: int, _frame: FrameType | None) -> None:
        log.info("%s: finishing the batches in hand", signal.Signals(sig).name)
        pool.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    # The same garbage-collector tuning as the server's (cli/wiring.py, GC_GEN0_THRESHOLD):
    # digest allocates the same thousand short-lived objects per payload here.
    tuned = tune_gc()
    try:
        return pool.run()
    finally:
        restore_gc(tuned)
