"""The live feed: digest publishes the points it has just committed, WebSocket clients receive
them. A hub per server process: subscribe/publish, thread-safe, one bounded queue per subscriber.

Two layouts feed it:
* embedded: digest runs in a thread of the server process, and its on_written listener is
  LiveHub.publish_written;
* workers: `fleetscope worker` processes commit elsewhere. Each worker's on_written is a
  LiveRelay, which sends the points it wrote as one JSON message over the stream's Redis
  (stream/notify.py, pub/sub); each server subscribes and LiveRelay.deliver hands them to its
  hub. The points travel, not only host ids, so no server reads the database per commit.

A slow subscriber never slows digest: its queue keeps the newest `queue_size` points and counts
what it dropped, so the client can refetch."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fleetscope.query.headline import Headline, HeadlinePlan
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
        self._points = WrittenPoints()

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
        if self.subscriber_count:
            self.publish(self._points.of(batches, result))


class WrittenPoints:
    """The live points of what digest just wrote: the headline values of each newly written
    batch's last MAX_POINTS_PER_BATCH frames."""

    def __init__(self) -> None:
        self._plans: dict[tuple[str, ...], HeadlinePlan] = {}

    def of(self, batches: Sequence[BatchRows], result: WriteResult) -> list[LivePoint]:
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
        return points


_FIELDS = ("cpu_percent", "memory_percent", "disk_percent", "network_bytes_per_second")


def encode_points(points: Sequence[LivePoint]) -> bytes:
    """One message of the workers' channel: a JSON list of [tenant, host id, host name, t,
    cpu, memory, disk, network]."""
    return json.dumps(
        [
            [p.tenant_id, p.host_id, p.host_name, p.ts, *(getattr(p.values, f) for f in _FIELDS)]
            for p in points
        ],
        separators=(",", ":"),
    ).encode()


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def decode_points(message: bytes) -> list[LivePoint]:
    """The inverse of encode_points; ValueError names what is wrong with a bad message."""
    try:
        rows = json.loads(message)
        return [
            LivePoint(
                int(tenant),
                int(host_id),
                str(name),
                float(ts),
                Headline(*(_number(v) for v in values)),
            )
            for tenant, host_id, name, ts, *values in rows
            if len(values) == len(_FIELDS)
        ]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad live message {message[:80]!r}: {exc}") from exc


class LiveRelay:
    """The live feed across processes. A worker's digest calls on_written after each commit,
    which sends the points with `send` (RedisNotifier.publish); a server passes `deliver` to
    RedisNotifier.subscribe, which hands the points it receives to its hub."""

    def __init__(self, send: Callable[[bytes], object] | None = None, hub: LiveHub | None = None):
        self._send = send
        self._hub = hub
        self._points = WrittenPoints()

    def on_written(self, batches: Sequence[BatchRows], result: WriteResult) -> None:
        if self._send is None:
            raise RuntimeError("this relay only delivers (no send given)")
        points = self._points.of(batches, result)
        if points:
            self._send(encode_points(points))

    def deliver(self, message: bytes) -> None:
        if self._hub is None:
            raise RuntimeError("this relay only sends (no hub given)")
        self._hub.publish(decode_points(message))
