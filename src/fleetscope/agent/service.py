"""The agent's loop: collect every interval, hand snapshots to the outbox, send them to the
sink (an Uploader to a server, or a FileSink in local mode).

Snapshots wait in an in-memory outbox until the server acknowledges them. A batch keeps its id
across retries, so a retry after a lost response is recognised by the server and stored once.
(The durable on-disk spool replaces this outbox in the spool work; the loop stays the same.)
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from fleetscope import __version__
from fleetscope.agent.runner import CollectorRunner
from fleetscope.agent.sink import Sink
from fleetscope.agent.uploader import Outcome, UploadResult
from fleetscope.model.payload import AgentInfo, HostIdentity, Payload, Snapshot

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0


@dataclass
class OutboxBatch:
    batch_id: uuid.UUID
    snapshots: list[Snapshot]


@dataclass
class AgentStatus:
    snapshots_collected: int = 0
    snapshots_delivered: int = 0
    snapshots_dropped: int = 0
    last_success: float | None = None
    last_error: str | None = None
    key_rejected: bool = False


@dataclass
class Outbox:
    """Snapshots not yet acknowledged, oldest first, bounded: when full the oldest are dropped
    and counted, never silently."""

    max_snapshots: int
    batch_size: int
    waiting: deque[Snapshot] = field(default_factory=deque)
    in_flight: OutboxBatch | None = None

    def add(self, snapshot: Snapshot, status: AgentStatus) -> None:
        self.waiting.append(snapshot)
        while len(self) > self.max_snapshots and self.waiting:
            self.waiting.popleft()
            status.snapshots_dropped += 1

    def next_batch(self) -> OutboxBatch | None:
        if self.in_flight is None and self.waiting:
            taken = [self.waiting.popleft() for _ in range(min(self.batch_size, len(self.waiting)))]
            self.in_flight = OutboxBatch(uuid.uuid4(), taken)
        return self.in_flight

    def __len__(self) -> int:
        return len(self.waiting) + (len(self.in_flight.snapshots) if self.in_flight else 0)


class AgentService:
    def __init__(
        self,
        runner: CollectorRunner,
        identity: HostIdentity,
        sink: Sink,
        *,
        interval_seconds: float,
        batch_size: int = 100,
        max_buffered_snapshots: int = 8640,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.runner = runner
        self.identity = identity
        self.sink = sink
        self.interval = interval_seconds
        self.status = AgentStatus()
        self.outbox = Outbox(max_buffered_snapshots, batch_size)
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._failures = 0
        self._next_upload_at = 0.0

    def collect_once(self) -> Snapshot:
        snapshot = self.runner.collect()
        self.outbox.add(snapshot, self.status)
        self.status.snapshots_collected += 1
        return snapshot

    def upload_pending(self, deadline: float | None = None) -> None:
        """Send batches until the outbox is empty, an upload fails, or the deadline passes."""
        if time.monotonic() < self._next_upload_at:
            return
        while (batch := self.outbox.next_batch()) is not None:
            if deadline is not None and time.monotonic() > deadline:
                return
            result = self.sink.send(self._payload(batch))
            if result.outcome is Outcome.DELIVERED:
                self._delivered(batch)
                continue
            self._failed(batch, result)
            return

    def _payload(self, batch: OutboxBatch) -> Payload:
        return Payload(
            schema_version=1,
            batch_id=batch.batch_id,
            agent=AgentInfo(version=__version__),
            host=self.identity,
            snapshots=batch.snapshots,
        )

    def _delivered(self, batch: OutboxBatch) -> None:
        self.outbox.in_flight = None
        self.status.snapshots_delivered += len(batch.snapshots)
        self.status.last_success = time.time()
        self.status.key_rejected = False
        self._failures = 0

    def _failed(self, batch: OutboxBatch, result: UploadResult) -> None:
        self.status.last_error = f"{result.status_code or 'network'}: {result.message}"
        if result.outcome is Outcome.REJECTED:
            # The payload itself is bad; retrying cannot help. Logged with the server's reason.
            log.error(
                "server rejected batch %s (%s): %s",
                batch.batch_id,
                result.status_code,
                result.message,
            )
            self.outbox.in_flight = None
            self.status.snapshots_dropped += len(batch.snapshots)
            return
        if result.outcome is Outcome.UNAUTHORIZED:
            if not self.status.key_rejected:
                log.error("uploads stopped: %s; snapshots keep buffering", result.message)
            self.status.key_rejected = True
        else:
            log.warning("upload failed, will retry: %s", self.status.last_error)
        self._failures += 1
        # Exponential back-off with full jitter; the server's Retry-After wins when it is longer.
        backoff = random.uniform(
            0, min(MAX_BACKOFF_SECONDS, self.interval * 2 ** min(self._failures, 10))
        )
        self._next_upload_at = time.monotonic() + max(backoff, result.retry_after_seconds or 0.0)

    def run(self, cycles: int | None = None, duration_seconds: float | None = None) -> None:
        """Collect on a fixed cadence until stop(), for `cycles` cycles or for
        `duration_seconds` (whichever comes first), then flush."""
        next_cycle = time.monotonic()
        end = math.inf if duration_seconds is None else next_cycle + duration_seconds
        done = 0
        while (
            not self._stop.is_set() and (cycles is None or done < cycles) and time.monotonic() < end
        ):
            self.collect_once()
            self.upload_pending(deadline=next_cycle + self.interval)
            done += 1
            next_cycle += self.interval
            delay = next_cycle - time.monotonic()
            if delay < 0:  # fell behind (suspend, overload): skip missed cycles, don't burst
                next_cycle = time.monotonic()
                delay = 0
            if self._sleep(max(0.0, min(delay, end - time.monotonic()))):
                break
        self.flush(timeout_seconds=5.0)

    def flush(self, timeout_seconds: float) -> None:
        self._next_upload_at = 0.0
        self.upload_pending(deadline=time.monotonic() + timeout_seconds)
        if len(self.outbox):
            log.warning("stopping with %d snapshots not delivered", len(self.outbox))

    def stop(self) -> None:
        self._stop.set()
