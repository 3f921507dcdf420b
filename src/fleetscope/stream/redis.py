"""The scaled-out stream: Redis (or Valkey) Streams through redis-py, shared by ingest processes
that enqueue and digest workers that consume.

Layout, for a key prefix P and K shards:

- `P:stream:0` … `P:stream:K-1`: the messages. A message goes to shard
  crc32(tenant:key) mod K, so one host's payloads stay in one stream, in order. Fields: kind,
  tenant, body. A message id outside this module is "<shard>/<entry id>".
- consumer group G (default "digest") on every shard, created with MKSTREAM from id 0, so
  entries added before the group existed (a Redis restarted empty, a worker started late) are
  still delivered. A NOGROUP reply recreates the groups and retries once.
- `P:dead`: the dead letters, one entry per message that failed max_attempts times: the
  original id, kind, tenant, body, the last error and when (stream/redis_dead.py).
- `P:lease:<consumer>`: a consumer's lease, kept alive by its process's heartbeat
  (stream/redis_lease.py).

Delivery: XREADGROUP reads new entries from all shards in one call. What a consumer whose
lease expired (its process died) left pending is taken over by the next sweep of another
(stream/redis_lease.py); a consumer's first read in a process first takes back what is still
pending under its own name (an earlier process of that name, restarted). Entries pending
longer than the visibility timeout are taken over with XAUTOCLAIM whatever their consumer's
lease (a thread that hangs in a process that still beats). Claims count deliveries; that count
is StreamMessage.attempts. `fail` either dead-letters (a Lua script: XADD to P:dead, XACK,
XDEL, atomically) or releases the message by setting its idle time past the visibility
timeout, so the next sweep claims it again.

Length policy: nothing is ever trimmed by length. `ack` is XACK plus XDEL in one MULTI, so
XLEN is exactly the number of unacknowledged messages (never delivered, or pending), and no
XTRIM can drop one of those. When that number reaches max_backlog, enqueue raises
StreamBacklogFull instead (ingest answers 429 with Retry-After).

Durability: enqueue returns once Redis has answered the XADDs, i.e. the entries are in the
primary's memory. What survives a crash of Redis is the operator's configuration: with
`appendonly yes` and `appendfsync always` every acknowledged XADD is on disk; with the usual
`appendfsync everysec` up to a second of accepted payloads can be lost; with no AOF (RDB
snapshots or nothing) everything since the last snapshot can be. Set `appendonly yes` for real
durability. `wait_replicas` adds WAIT (that many replicas have the entries) and `wait_aof`
WAITAOF (the primary's AOF has them fsynced; Redis 7.2+ / Valkey) before enqueue returns;
when the wait falls short, enqueue raises StreamUnavailable (the sender retries, and digest's
batch-id check makes the duplicate harmless). Redis Cluster is not supported: the scripts touch
a shard and the dead-letter stream, or a lease and the shards, together.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from fleetscope.stream.base import (
    DeadLetter,
    NewMessage,
    StreamBacklogFull,
    StreamMessage,
    StreamUnavailable,
)
from fleetscope.stream.redis_dead import DeadLetters
from fleetscope.stream.redis_lease import Claimed, Leases

log = logging.getLogger(__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry_seconds(entry_id: str) -> float:
    """An entry id's time part: Redis' clock in milliseconds when it was added."""
    return int(entry_id.split("-", 1)[0]) / 1000


class RedisStream:
    """See the module docstring. Every method raises StreamUnavailable, never redis errors.

    `client` is a redis-py client with decode_responses=False (bodies are bytes), and a
    socket timeout above the longest block_seconds given to read. from_url builds one."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "fleetscope",
        shards: int = 4,
        group: str = "digest",
        visibility_timeout_seconds: float = 60.0,
        lease_seconds: float = 5.0,
        max_backlog: int = 100_000,
        retry_after_seconds: float = 10.0,
        wait_replicas: int = 0,
        wait_aof: bool = False,
        wait_timeout_ms: int = 1000,
    ) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self.client = client
        self.prefix = prefix
        self.shards = shards
        self.group = group
        self.visibility_timeout = visibility_timeout_seconds
        self.max_backlog = max_backlog
        self.retry_after_seconds = retry_after_seconds
        self.wait_replicas = wait_replicas
        self.wait_aof = wait_aof
        self.wait_timeout_ms = wait_timeout_ms
        self.keys = [f"{prefix}:stream:{shard}" for shard in range(shards)]
        self.dead_key = f"{prefix}:dead"
        self._dead = DeadLetters(client, self.dead_key, group)
        self.leases = Leases(
            client, prefix=prefix, group=group, keys=self.keys, lease_seconds=lease_seconds
        )
        self._sweep_seconds = min(1.0, visibility_timeout_seconds / 4, lease_seconds / 4)
        self._lock = threading.Lock()  # guards the fields below; never held across I/O
        self._groups_ready = False
        self._closed = False
        self._next_sweep = 0.0  # monotonic; sweeping for idle entries on every read is waste

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStream:
        """A stream on a client made from a redis:// (rediss://, unix://) URL. Connection
        errors are retried twice within ~0.1 s, enough to replace a pooled connection that a
        Redis restart broke, short enough that ingest answers 503 promptly when Redis is down."""
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_timeout=15,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), 2),
        )
        return cls(client, **options)

    # -- plumbing ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        if self._closed:
            raise StreamUnavailable("the stream is closed")
        try:
            yield
        except redis.RedisError as exc:
            raise StreamUnavailable(f"redis stream {self.prefix}: {exc}") from exc

    def _ensure_groups(self, force: bool = False) -> None:
        if self._groups_ready and not force:
            return
        for key in self.keys:
            try:
                self.client.xgroup_create(key, self.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True

    def _with_groups(self, action: Any) -> Any:
        """Run action(); if a group is missing (Redis restarted empty, keys deleted), create
        the groups and run it once more."""
        self._ensure_groups()
        try:
            return action()
        except redis.ResponseError as exc:
            # XINFO CONSUMERS says "no such key" where XREADGROUP says NOGROUP.
            if "NOGROUP" not in str(exc) and "no such key" not in str(exc):
                raise
            log.warning("consumer group %s missing in %s: recreating it", self.group, self.prefix)
            self._ensure_groups(force=True)
            return action()

    def shard_of(self, message: NewMessage) -> int:
        key = f"{message.tenant_id}:{message.key}" if message.key else str(message.tenant_id)
        return zlib.crc32(key.encode()) % self.shards

    def _public_id(self, shard: int, entry_id: bytes | str) -> str:
        return f"{shard}/{_text(entry_id)}"

    def _split_id(self, message_id: str) -> tuple[int, str]:
        shard, _, entry_id = message_id.partition("/")
        if not entry_id or not shard.isdigit() or int(shard) >= self.shards:
            raise ValueError(f"not a message id of this stream: {message_id!r}")
        return int(shard), entry_id

    def _message(
        self, shard: int, entry_id: bytes | str, fields: dict[bytes, bytes], attempts: int
    ) -> StreamMessage:
        entry = _text(entry_id)
        return StreamMessage(
            id=self._public_id(shard, entry),
            kind=fields[b"kind"].decode(),
            tenant_id=int(fields[b"tenant"]),
            body=fields[b"body"],
            attempts=attempts,
            enqueued_at=_entry_seconds(entry),
        )

    # -- enqueue -----------------------------------------------------------------------------
    def enqueue(self, messages: Sequence[NewMessage]) -> list[str]:
        with self._errors():
            depth = self._depth()
            if depth + len(messages) > self.max_backlog:
                raise StreamBacklogFull(
                    f"{depth} messages wait for digest (limit {self.max_backlog})",
                    self.retry_after_seconds,
                )
            shards = [self.shard_of(m) for m in messages]
            pipe = self.client.pipeline(transaction=True)
            for message, shard in zip(messages, shards, strict=True):
                # No MAXLEN: trimming by length would drop unacknowledged messages.
                pipe.xadd(
                    self.keys[shard],
                    {"kind": message.kind, "tenant": message.tenant_id, "body": message.body},
                )
            ids = [
                self._public_id(shard, entry)
                for shard, entry in zip(shards, pipe.execute(), strict=True)
            ]
            self._wait_durable()
        return ids

    def _wait_durable(self) -> None:
        if self.wait_aof:
            # redis-py 5 has no waitaof() method; execute_command is untyped.
            reply = self.client.execute_command(  # type: ignore[no-untyped-call]
                "WAITAOF", 1, self.wait_replicas, self.wait_timeout_ms
            )
            local, replicas = cast("list[int]", reply)
            if local < 1 or replicas < self.wait_replicas:
                raise StreamUnavailable(
                    f"WAITAOF: fsynced locally {local}, on {replicas} of "
                    f"{self.wait_replicas} replicas within {self.wait_timeout_ms} ms"
                )
        elif self.wait_replicas:
            acked = self.client.wait(self.wait_replicas, self.wait_timeout_ms)
            if acked < self.wait_replicas:
                raise StreamUnavailable(
                    f"WAIT: {acked} of {self.wait_replicas} replicas acknowledged within "
                    f"{self.wait_timeout_ms} ms"
                )

    # -- consume -----------------------------------------------------------------------------
    def read(self, consumer: str, max_count: int, block_seconds: float) -> list[StreamMessage]:
        with self._errors():
            self.leases.hold(consumer)
            out: list[StreamMessage] = []
            out += self._claimed(
                self._with_groups(lambda: self.leases.take_back(consumer, max_count))
            )
            if len(out) < max_count and self._sweep_due():
                wanted, idle_ms = max_count - len(out), int(self.visibility_timeout * 1000)
                claimed = self._with_groups(lambda: self.leases.sweep(consumer, wanted, idle_ms))
                out += self._claimed(claimed)
            if len(out) < max_count:
                out += self._with_groups(lambda: self._read_new(consumer, max_count - len(out)))
            if not out and block_seconds > 0:
                out = self._with_groups(lambda: self._read_new(consumer, max_count, block_seconds))
        return out

    def _sweep_due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._next_sweep:
                return False
            self._next_sweep = now + self._sweep_seconds
            return True

    def _claimed(self, claimed: list[Claimed]) -> list[StreamMessage]:
        return [self._message(shard, entry, fields, n) for shard, entry, fields, n in claimed]

    def _read_new(
        self, consumer: str, wanted: int, block_seconds: float = 0.0
    ) -> list[StreamMessage]:
        """New entries from the shards in XREADGROUPs, oldest first, never more than wanted.
        COUNT applies per shard, so each round asks at most `wanted - len(got)` in all (fewer
        shards than that each get one); a shard that returned less than asked is drained for
        this read. Extras delivered past `wanted` would wait for this consumer's next read
        while another consumer takes newer entries of the same shard: one host's payloads
        out of order (seen as a flaky contract test)."""
        got: list[StreamMessage] = []
        block_ms = max(1, int(block_seconds * 1000)) if block_seconds > 0 else None
        candidates = list(range(self.shards))
        while len(got) < wanted and candidates:
            remaining = wanted - len(got)
            asked = candidates[:remaining]
            per_shard = remaining // len(asked)
            reply: Any = cast(
                "Any",
                self.client.xreadgroup(
                    self.group,
                    consumer,
                    {self.keys[shard]: ">" for shard in asked},
                    count=per_shard,
                    block=block_ms,
                )
                or [],
            )
            full: set[int] = set()
            for key, entries in reply.items() if isinstance(reply, dict) else reply:
                shard = self.keys.index(_text(key))
                if len(entries) >= per_shard:
                    full.add(shard)
                got += [self._message(shard, eid, fields, 1) for eid, fields in entries]
            if block_ms is not None:
                break
            # Shards not asked this round first, then those that may hold more.
            candidates = [s for s in candidates if s not in asked] + [s for s in asked if s in full]
        got.sort(key=lambda m: (m.enqueued_at, m.id))
        return got

    def ack(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        by_shard: dict[int, list[str]] = {}
        for message_id in ids:
            shard, entry = self._split_id(message_id)
            by_shard.setdefault(shard, []).append(entry)
        with self._errors():
            # XACK answers 0 rather than NOGROUP when the group is missing: nothing to retry.
            pipe = self.client.pipeline(transaction=True)
            for shard, entries in by_shard.items():
                pipe.xack(self.keys[shard], self.group, *entries)
                pipe.xdel(self.keys[shard], *entries)
            pipe.execute()

    def fail(self, message_id: str, error: str, max_attempts: int) -> bool:
        shard, entry = self._split_id(message_id)
        key = self.keys[shard]
        with self._errors():
            rows = cast(
                "list[dict[str, Any]]",
                self._with_groups(
                    lambda: self.client.xpending_range(key, self.group, entry, entry, 1)
                ),
            )
            if not rows:
                return False  # acknowledged or dead-lettered by another consumer meanwhile
            if rows[0]["times_delivered"] < max_attempts:
                # Released: idle past the visibility timeout, so the next sweep claims it.
                self.client.xclaim(
                    key,
                    self.group,
                    _text(rows[0]["consumer"]),
                    0,
                    [entry],
                    idle=int(self.visibility_timeout * 1000) + 1000,
                    justid=True,
                )
                with self._lock:
                    self._next_sweep = 0.0
                return False
            moved = self._dead.move(key, entry, message_id, error)
        if moved:
            log.error(
                "message %s dead-lettered after %d attempts: %s", message_id, max_attempts, error
            )
        return bool(moved)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._errors():
            return self._dead.entries(limit)

    def dead_letter_count(self) -> int:
        with self._errors():
            return self._dead.count()

    def replay_dead_letter(self, message_id: str) -> str | None:
        shard, _ = self._split_id(message_id)
        with self._errors():
            entry = self._dead.replay(message_id, self.keys[shard])
        return None if entry is None else self._public_id(shard, entry)

    def drop_dead_letter(self, message_id: str) -> bool:
        with self._errors():
            return self._dead.drop(message_id)

    def depth(self) -> int:
        with self._errors():
            return self._depth()

    def _depth(self) -> int:
        pipe = self.client.pipeline(transaction=False)
        for key in self.keys:
            pipe.xlen(key)
        return sum(cast("list[int]", pipe.execute()))

    def oldest_age_seconds(self) -> float | None:
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.time()
            for key in self.keys:
                pipe.xrange(key, count=1)
            now, *firsts = pipe.execute()
        oldest = [_entry_seconds(_text(entries[0][0])) for entries in firsts if entries]
        if not oldest:
            return None
        # Entry ids carry Redis' clock, so measure against Redis' clock, not this host's.
        seconds, micros = now
        return max(0.0, int(seconds) + int(micros) / 1e6 - min(oldest))

    def ping(self) -> None:
        with self._errors():
            self.client.ping()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.leases.release()
        except redis.RedisError as exc:
            # The leases expire by themselves; others take over after lease_seconds.
            log.warning("redis stream %s: leases not released: %s", self.prefix, exc)
        self.client.close()
