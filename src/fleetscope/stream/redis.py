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
  original id, kind, tenant, body, the last error and when.

Delivery: XREADGROUP reads new entries from all shards in one call. Entries that stay pending
longer than the visibility timeout (their consumer died or hangs) are taken over with
XAUTOCLAIM, which also counts deliveries; that count is StreamMessage.attempts. `fail` either
dead-letters (a Lua script: XADD to P:dead, XACK, XDEL, atomically) or releases the message by
setting its idle time past the visibility timeout, so the next read claims it again.

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
a shard and the dead-letter stream together.
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

log = logging.getLogger(__name__)

# KEYS[1] the shard, KEYS[2] the dead letters; ARGV: group, entry id, public id, error,
# failed_at. Returns 0 when the entry is no longer pending (acknowledged or dead-lettered by
# another consumer meanwhile), so a message is never dead-lettered twice.
_DEAD_LETTER = """
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then return 0 end
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #entry == 0 then return 0 end
local fields = entry[1][2]
redis.call('XADD', KEYS[2], '*', 'id', ARGV[3], 'error', ARGV[4], 'failed_at', ARGV[5],
           unpack(fields))
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""

_CLAIM_CALLS_PER_SHARD = 8  # XAUTOCLAIM calls per shard and sweep, each scanning <= 10*COUNT


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
        self._dead_letter = client.register_script(_DEAD_LETTER)
        self._lock = threading.Lock()  # guards the fields below; never held across I/O
        self._groups_ready = False
        self._closed = False
        self._claim_cursor = ["0-0"] * shards
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
            if "NOGROUP" not in str(exc):
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
            out: list[StreamMessage] = []
            if self._sweep_due():
                out += self._with_groups(lambda: self._reclaim(consumer, max_count - len(out)))
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
            self._next_sweep = now + min(1.0, self.visibility_timeout / 4)
            return True

    def _reclaim(self, consumer: str, wanted: int) -> list[StreamMessage]:
        """Take over entries pending longer than the visibility timeout: a dead worker's."""
        min_idle_ms = int(self.visibility_timeout * 1000)
        claimed: list[tuple[int, str, dict[bytes, bytes]]] = []
        for shard, key in enumerate(self.keys):
            for _ in range(_CLAIM_CALLS_PER_SHARD):
                if len(claimed) >= wanted:
                    break
                cursor, entries, *_deleted = self.client.xautoclaim(
                    key,
                    self.group,
                    consumer,
                    min_idle_ms,
                    self._claim_cursor[shard],
                    count=wanted - len(claimed),
                )
                self._claim_cursor[shard] = _text(cursor)
                claimed += [(shard, _text(eid), fields) for eid, fields in entries if fields]
                if self._claim_cursor[shard] == "0-0":
                    break
        if not claimed:
            return []
        # XAUTOCLAIM counted this delivery; XPENDING tells how many there have been.
        pipe = self.client.pipeline(transaction=False)
        for shard, entry, _ in claimed:
            pipe.xpending_range(self.keys[shard], self.group, entry, entry, 1)
        counts = [rows[0]["times_delivered"] if rows else 1 for rows in pipe.execute()]
        log.info(
            "%s took over %d messages idle for %g s", consumer, len(claimed), min_idle_ms / 1000
        )
        return [
            self._message(shard, entry, fields, attempts)
            for (shard, entry, fields), attempts in zip(claimed, counts, strict=True)
        ]

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
            moved = self._dead_letter(
                keys=[key, self.dead_key],
                args=[self.group, entry, message_id, error, repr(time.time())],
            )
        if moved:
            log.error(
                "message %s dead-lettered after %d attempts: %s", message_id, max_attempts, error
            )
        return bool(moved)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._errors():
            entries = cast(
                "list[tuple[bytes, dict[bytes, bytes]]]",
                self.client.xrange(self.dead_key, count=limit),
            )
        return [
            DeadLetter(
                id=f[b"id"].decode(),
                kind=f[b"kind"].decode(),
                tenant_id=int(f[b"tenant"]),
                body=f[b"body"],
                error=f[b"error"].decode(),
                failed_at=float(f[b"failed_at"]),
            )
            for _, f in entries
        ]

    def dead_letter_count(self) -> int:
        with self._errors():
            return int(self.client.xlen(self.dead_key))

    def _find_dead(self, message_id: str) -> tuple[str, dict[bytes, bytes]] | None:
        """The dead-letter entry of a message id: a scan, as dead letters are few."""
        start = "-"
        while True:
            entries = cast(
                "list[tuple[bytes, dict[bytes, bytes]]]",
                self.client.xrange(self.dead_key, min=start, count=500),
            )
            for entry, fields in entries:
                if fields.get(b"id", b"").decode() == message_id:
                    return _text(entry), fields
            if len(entries) < 500:
                return None
            start = "(" + _text(entries[-1][0])

    def replay_dead_letter(self, message_id: str) -> str | None:
        shard, _ = self._split_id(message_id)
        with self._errors():
            found = self._find_dead(message_id)
            if found is None:
                return None
            entry, fields = found
            pipe = self.client.pipeline(transaction=True)
            # Back to the shard it came from, so the host's payloads stay in one stream.
            pipe.xadd(
                self.keys[shard],
                {"kind": fields[b"kind"], "tenant": fields[b"tenant"], "body": fields[b"body"]},
            )
            pipe.xdel(self.dead_key, entry)
            new_entry, _deleted = pipe.execute()
        return self._public_id(shard, new_entry)

    def drop_dead_letter(self, message_id: str) -> bool:
        with self._errors():
            found = self._find_dead(message_id)
            if found is None:
                return False
            return bool(self.client.xdel(self.dead_key, found[0]))

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
        self.client.close()
