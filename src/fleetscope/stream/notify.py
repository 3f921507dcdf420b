"""A notification channel between processes: Redis pub/sub on the stream's Redis.

Digest workers (`fleetscope worker`) commit in processes of their own; the servers that hold the
dashboard's WebSockets must still hear, promptly, what was just written. After each commit a
worker PUBLISHes one small message on `<prefix>:live`; every server SUBSCRIBEs and hands each
message to its live hub (query/live.py). Pub/sub, not a stream: the live feed is best effort by
design (a browser refetches after a reconnect), so a message that nobody is subscribed to, or
that a server misses while reconnecting, is dropped rather than stored.

The message body is opaque here (bytes); query/live.py defines it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

# A lost connection is retried after this long, doubling up to the cap.
RECONNECT_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


def live_channel(prefix: str) -> str:
    return f"{prefix}:live"


class RedisNotifier:
    def __init__(self, client: redis.Redis, channel: str) -> None:
        self.client = client
        self.channel = channel
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.subscribed = threading.Event()  # set while a subscription is active (tests wait)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisNotifier:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        return cls(client, live_channel(prefix))

    def publish(self, message: bytes) -> int:
        """Send to every subscriber now; returns how many got it. A Redis error is logged and
        dropped: the data is committed, only its live echo is lost."""
        try:
            receivers: int = self.client.publish(self.channel, message)
        except redis.RedisError as exc:
            log.warning("live notification to %s not sent: %s", self.channel, exc)
            return 0
        return receivers

    def subscribe(self, on_message: Callable[[bytes], None]) -> None:
        """Call on_message(body) from a thread of its own for every message, until close().
        Reconnects (with backoff) after a lost connection."""
        if self._thread is not None:
            raise RuntimeError("already subscribed")
        self._thread = threading.Thread(
            target=self._listen, args=(on_message,), name="live-notify", daemon=True
        )
        self._thread.start()

    def _listen(self, on_message: Callable[[bytes], None]) -> None:
        delay = RECONNECT_SECONDS
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.subscribed.set()
                delay = RECONNECT_SECONDS
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        try:
                            on_message(message["data"])
                        except Exception:  # one bad message must not end the feed
                            log.exception("live notification handler failed")
            except redis.RedisError as exc:
                self.subscribed.clear()
                log.warning(
                    "live notifications from %s interrupted (%s); retrying in %.1f s",
                    self.channel,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            finally:
                pubsub.close()
        self.subscribed.clear()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.client.close()
