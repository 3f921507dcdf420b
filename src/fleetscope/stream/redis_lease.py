"""Consumer leases on the Redis stream (stream/redis.py): a killed worker's messages are taken
over within seconds, a slow worker's are left alone.

Every consumer that reads through a RedisStream holds a lease, the key `P:lease:<consumer>`,
set with a TTL of lease_seconds before its first read and refreshed every third of that by a
heartbeat thread for as long as the thread that last read as that consumer is alive. The
heartbeat does not wait for the worker thread's progress, so a batch that takes long to write
(a database lock, a slow disk, a long transaction) keeps its lease and its messages. A process
that dies stops beating: its leases expire within lease_seconds, and the next sweep of any
other consumer (stream/redis.py, at most a second apart) takes over what it held: XPENDING
for that consumer, then XCLAIM to itself with a small min-idle, so that when two sweepers race
each entry goes to one of them. A consumer with neither a lease nor pending entries is removed
from the group; a Lua script checks both and deletes it in one step, because a consumer
deleted with entries pending would take them out of the pending list for good.

Taken over means delivered again. The dead worker may have committed a batch without living to
acknowledge it; the store's batch-id check (store/writer.py, ingested_batches) makes the second
write a no-op, so a batch is stored once.

A thread that hangs while its process still beats keeps its lease; for that case
stream/redis.py still claims entries pending longer than the visibility timeout whatever
their consumer's lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable, Sequence
from typing import Any, cast

import redis

log = logging.getLogger(__name__)

# KEYS[1] the consumer's lease, KEYS[2..] the shards; ARGV: group, consumer. Deletes the
# consumer from the group on every shard only if it holds no lease and nothing is pending for
# it on any shard; returns 1 when it did.
_REMOVE_CONSUMER = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #KEYS do
  if #redis.call('XPENDING', KEYS[i], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
end
for i = 2, #KEYS do
  redis.call('XGROUP', 'DELCONSUMER', KEYS[i], ARGV[1], ARGV[2])
end
return 1
"""

# Two sweepers taking over the same consumer at once: the first XCLAIM resets the entries'
# idle time, so the second's, asking for at least this much, skips them.
TAKEOVER_MIN_IDLE_MS = 200

_CLAIM_CALLS_PER_SHARD = 8  # XAUTOCLAIM calls per shard and sweep, each scanning <= 10*COUNT

# (shard, entry id, fields, deliveries including the one this claim counts)
Claimed = tuple[int, str, dict[bytes, bytes], int]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Leases:
    """The leases of the consumers that read through one RedisStream, and the sweeps that take
    over from consumers whose leases expired. Redis errors pass through (RedisStream turns
    them into StreamUnavailable), except in the heartbeat thread, which logs them and beats
    again: a lease lapses only after lease_seconds without one good beat."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str,
        group: str,
        keys: Sequence[str],
        lease_seconds: float,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.client = client
        self.prefix = prefix
        self.group = group
        self.keys = list(keys)
        self.lease_ms = max(1, int(lease_seconds * 1000))
        # What the lease key holds: who beats for it, for an operator reading Redis.
        self.holder = f"{socket.gethostname()} pid {os.getpid()}"
        self._remove = client.register_script(_REMOVE_CONSUMER)
        self._lock = threading.Lock()  # guards the fields below; never held across I/O
        self._held: dict[str, threading.Thread] = {}
        self._claim_cursor = ["0-0"] * len(self.keys)
        self._taking_back: dict[str, list[str]] = {}  # consumer -> XPENDING start per shard
        self._taken_back: set[str] = set()
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()

    def key(self, consumer: str) -> str:
        return f"{self.prefix}:lease:{consumer}"

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def hold(self, consumer: str) -> None:
        """Before a read as consumer: set its lease the first time, and beat for it while the
        calling thread lives."""
        with self._lock:
            known = consumer in self._held
        if not known:
            self.client.set(self.key(consumer), self.holder, px=self.lease_ms)
        with self._lock:
            self._held[consumer] = threading.current_thread()
            if self._heartbeat is None and not self._stop.is_set():
                self._heartbeat = threading.Thread(
                    target=self._beat, name=f"lease-{self.prefix}", daemon=True
                )
                self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_ms / 3000):
            with self._lock:
                gone = [c for c, thread in self._held.items() if not thread.is_alive()]
                for consumer in gone:
                    del self._held[consumer]
                alive = list(self._held)
            try:
                pipe = self.client.pipeline(transaction=False)
                for consumer in alive:
                    pipe.set(self.key(consumer), self.holder, px=self.lease_ms)
                if gone:
                    # Its thread ended (an error it did not survive): what it held is
                    # taken over at once rather than after the lease.
                    pipe.delete(*[self.key(consumer) for consumer in gone])
                pipe.execute()
            except redis.RedisError as exc:
                log.warning("lease heartbeat for %s failed: %s", ", ".join(alive), exc)

    def orphans(self) -> tuple[list[tuple[int, str]], list[str]]:
        """Consumers without a lease that this stream does not beat for: (shard, consumer)
        for every shard where one has entries pending, and the names of those that have
        nothing pending anywhere and have been idle longer than a lease (to remove)."""
        pipe = self.client.pipeline(transaction=False)
        for key in self.keys:
            pipe.xinfo_consumers(key, self.group)
        replies = cast("list[list[dict[str, Any]]]", pipe.execute())
        pending: dict[str, list[int]] = {}
        idle_ms: dict[str, int] = {}
        for shard, consumers in enumerate(replies):
            for info in consumers:
                name = _text(info["name"])
                idle_ms[name] = min(idle_ms.get(name, int(info["idle"])), int(info["idle"]))
                if int(info["pending"]):
                    pending.setdefault(name, []).append(shard)
        mine = self.held()
        others = [name for name in idle_ms if name not in mine]
        if not others:
            return [], []
        pipe = self.client.pipeline(transaction=False)
        for name in others:
            pipe.exists(self.key(name))
        leased = dict(zip(others, cast("list[int]", pipe.execute()), strict=True))
        expired = [(shard, n) for n in others if not leased[n] for shard in pending.get(n, [])]
        idle = [
            n for n in others if not leased[n] and n not in pending and idle_ms[n] > self.lease_ms
        ]
        return expired, idle

    def _claim(
        self, shard: int, owner: str, consumer: str, count: int, *, min_idle_ms: int, start: str
    ) -> tuple[list[Claimed], list[str]]:
        """Claim for consumer up to `count` entries of a shard pending for owner, from entry id
        `start` on; returns what was claimed and the ids XPENDING listed."""
        key = self.keys[shard]
        rows = cast(
            "list[dict[str, Any]]",
            self.client.xpending_range(
                key,
                self.group,
                start,
                "+",
                count,
                consumername=owner,
                idle=min_idle_ms or None,
            ),
        )
        delivered = {_text(row["message_id"]): int(row["times_delivered"]) for row in rows}
        if not delivered:
            return [], []
        entries = cast(
            "list[tuple[bytes, dict[bytes, bytes] | None]]",
            self.client.xclaim(key, self.group, consumer, min_idle_ms, list(delivered)),
        )
        # XCLAIM counts this delivery; an entry deleted meanwhile comes back empty or not
        # at all (Redis 7 drops it from the pending list).
        claimed = [
            (shard, _text(entry), fields, delivered[_text(entry)] + 1)
            for entry, fields in entries
            if fields
        ]
        return claimed, list(delivered)

    def take_over(
        self,
        consumer: str,
        owners: Iterable[tuple[int, str]],
        wanted: int,
        min_idle_ms: int = TAKEOVER_MIN_IDLE_MS,
    ) -> list[Claimed]:
        """Claim for consumer up to `wanted` entries pending for the owners, (shard, owner)
        pairs, oldest first on each shard."""
        claimed: list[Claimed] = []
        for shard, owner in owners:
            if len(claimed) >= wanted:
                break
            got, _ = self._claim(
                shard, owner, consumer, wanted - len(claimed), min_idle_ms=min_idle_ms, start="-"
            )
            claimed += got
        return claimed

    def take_back(self, consumer: str, wanted: int) -> list[Claimed]:
        """What is pending under this consumer's name from before this process read as it:
        a process of the same name (`--consumer NAME`) that died and was restarted. Its lease
        is this process's now, so no other consumer would take these over before the
        visibility timeout. Called before every read; walks the consumer's pending entries
        once, `wanted` at a time, then returns [] without asking Redis."""
        with self._lock:
            if consumer in self._taken_back:
                return []
            starts = self._taking_back.setdefault(consumer, ["-"] * len(self.keys))
        claimed: list[Claimed] = []
        for shard, start in enumerate(starts):
            count = wanted - len(claimed)
            if not start or count <= 0:
                continue
            got, listed = self._claim(shard, consumer, consumer, count, min_idle_ms=0, start=start)
            claimed += got
            # A shorter list than asked: this shard's are all taken back.
            starts[shard] = f"({listed[-1]}" if len(listed) == count else ""
        if not any(starts):
            with self._lock:
                self._taken_back.add(consumer)
                self._taking_back.pop(consumer, None)
        if claimed:
            log.info("%s took back %d messages pending under its name", consumer, len(claimed))
        return claimed

    def sweep(self, consumer: str, wanted: int, visibility_ms: int) -> list[Claimed]:
        """Take over for consumer what consumers whose lease expired hold, remove the idle
        ones from the group, then claim entries pending longer than visibility_ms."""
        expired, idle = self.orphans()
        claimed = self.take_over(consumer, expired, wanted) if expired else []
        if claimed:
            log.info(
                "%s took over %d messages of %s, whose lease expired",
                consumer,
                len(claimed),
                ", ".join(sorted({owner for _, owner in expired})),
            )
        if idle:
            self.remove(idle)
        if len(claimed) < wanted:
            claimed += self.claim_idle(consumer, wanted - len(claimed), visibility_ms)
        return claimed

    def claim_idle(self, consumer: str, wanted: int, min_idle_ms: int) -> list[Claimed]:
        """Take over entries pending longer than min_idle_ms, whatever their consumer's
        lease: a hung worker's, or one that `fail` released."""
        found: list[tuple[int, str, dict[bytes, bytes]]] = []
        for shard, key in enumerate(self.keys):
            for _ in range(_CLAIM_CALLS_PER_SHARD):
                if len(found) >= wanted:
                    break
                cursor, entries, *_deleted = self.client.xautoclaim(
                    key,
                    self.group,
                    consumer,
                    min_idle_ms,
                    self._claim_cursor[shard],
                    count=wanted - len(found),
                )
                self._claim_cursor[shard] = _text(cursor)
                found += [(shard, _text(eid), fields) for eid, fields in entries if fields]
                if self._claim_cursor[shard] == "0-0":
                    break
        if not found:
            return []
        # XAUTOCLAIM counted this delivery; XPENDING tells how many there have been.
        pipe = self.client.pipeline(transaction=False)
        for shard, entry, _ in found:
            pipe.xpending_range(self.keys[shard], self.group, entry, entry, 1)
        counts = [rows[0]["times_delivered"] if rows else 1 for rows in pipe.execute()]
        log.info("%s took over %d messages idle for %g s", consumer, len(found), min_idle_ms / 1000)
        return [
            (shard, entry, fields, int(n))
            for (shard, entry, fields), n in zip(found, counts, strict=True)
        ]

    def remove(self, consumers: Iterable[str]) -> list[str]:
        """Delete from the group those of the consumers that hold no lease and nothing
        pending; returns their names."""
        removed = [
            consumer
            for consumer in consumers
            if self._remove(keys=[self.key(consumer), *self.keys], args=[self.group, consumer])
        ]
        if removed:
            log.info("consumers removed from group %s: %s", self.group, ", ".join(removed))
        return removed

    def release(self) -> None:
        """Stop beating and give up this process's leases: what its consumers still hold (a
        drain that ran out of time) is taken over by the next sweep of another process, and
        those that hold nothing leave the group."""
        self._stop.set()
        with self._lock:
            heartbeat, self._heartbeat = self._heartbeat, None
            consumers, self._held = list(self._held), {}
        if heartbeat is not None:
            heartbeat.join(timeout=5)
        if consumers:
            self.client.delete(*[self.key(consumer) for consumer in consumers])
            self.remove(consumers)
