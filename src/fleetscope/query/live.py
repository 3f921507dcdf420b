"""The live feed: digest publishes the points it has just committed, WebSocket clients receive
them. An in-process hub: subscribe/publish, thread-safe, one bounded queue per subscriber.

Digest runs in a thread of the server process (the embedded layout), so the hub can be a plain
object that the composition root hands to both. With `fleetscope worker` processes digesting
from Redis, the points are committed in another process and this hub never hears of them: that
layout needs a shared channel (Redis pub/sub on the same Redis) feeding each server's hub. Not
built yet; the dashboard then shows the data on reload, not live.

A slow subscriber never slows digest: its queue keeps the newest `queue_size` points and counts
what it dropped, so the client can refetch."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from fleetscope.query.fleet import Headline, HeadlinePlan
from fleetscope.store.writer import BatchRows, WriteResult

# A backlog replay can carry a day of snapshots in one batch; the live charts want the last
# minutes, and the rest is one range query away.
MAX_POINTS_PER_BATCH = 60
_MAX_PLANS = 4096


@dataclass(frozen=True, slots=True)
class LivePoint:
    tenant_id: int
    host_id: int
    host_name: str
    ts: float  # unix seconds of the sample
    values: Headline


class Subscription:
    def __init__(
        self,
        hub: LiveHub,
        tenant_id: int,
        host_id: int | None,
        wake: Callable[[], None],
        queue_size: int,
    ) -> None:
        self.tenant_id = tenant_id
        self.host_id = host_id  # None: the whole fleet of the tenant
        self.dropped = 0
        self._hub = hub
        self._wake = wake
        self._queue: deque[LivePoint] = deque()
        self._size = queue_size
        self._lock = threading.Lock()

    def wants(self, point: LivePoint) -> bool:
        return point.tenant_id == self.tenant_id and self.host_id in (None, point.host_id)

    def offer(self, points: Sequence[LivePoint]) -> None:
        with self._lock:
            for point in points:
                if len(self._queue) >= self._size:
                    self._queue.popleft()
                    self.dropped += 1
                self._queue.append(point)
        self._wake()

    def drain(self) -> list[LivePoint]:
        with self._lock:
            points = list(self._queue)
            self._queue.clear()
        return points

    def close(self) -> None:
        self._hub.unsubscribe(self)


class LiveHub:
    def __init__(self, queue_size: int = 1024) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self._plans: dict[tuple[str, ...], HeadlinePlan] = {}

    def subscribe(
        self, tenant_id: int, host_id: int | None, wake: Callable[[], None]
    ) -> Subscription:
        """`wake` is called (from the publishing thread) when points are waiting: it must be
        cheap and thread-safe, e.g. loop.call_soon_threadsafe(event.set)."""
        subscription = Subscription(self, tenant_id, host_id, wake, self.queue_size)
        with self._lock:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, points: Iterable[LivePoint]) -> None:
        batch = list(points)
        if not batch:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            wanted = [p for p in batch if subscription.wants(p)]
            if wanted:
                subscription.offer(wanted)

    def publish_written(self, batches: Sequence[BatchRows], result: WriteResult) -> None:
        """Digest's on_written listener: the headline values of each newly written batch."""
        if not self.subscriber_count:
            return
        points = []
        for batch, host_id in zip(batches, result.host_ids, strict=False):
            if host_id is None:
                continue
            for frame in batch.frames[-MAX_POINTS_PER_BATCH:]:
                plan = self._plans.get(frame.series)
                if plan is None:
                    if len(self._plans) >= _MAX_PLANS:  # layouts churn only on agent changes
                        self._plans.clear()
                    plan = self._plans[frame.series] = HeadlinePlan.of(frame.series)
                raw = [float("nan") if v is None else v for v in frame.values]
                points.append(
                    LivePoint(
                        batch.tenant_id,
                        host_id,
                        batch.hostname,
                        frame.ts_ms / 1000,
                        plan.headline(raw),
                    )
                )
        self.publish(points)
