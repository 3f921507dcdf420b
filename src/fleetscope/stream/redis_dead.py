"""The Redis stream's dead letters (stream/redis.py): the stream `P:dead`, one entry per message
that failed max_attempts times, with its original id, kind, tenant, body, the last error and
when. Moving a message there is one Lua script (XACK, XADD to P:dead, XDEL, atomically), so a
message is never both pending and dead, nor dead twice. Redis errors pass through: the
RedisStream methods that call these turn them into StreamUnavailable."""

from __future__ import annotations

import time
from typing import cast

import redis

from fleetscope.stream.base import DeadLetter

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

_SCAN_COUNT = 500

Entries = list[tuple[bytes, dict[bytes, bytes]]]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class DeadLetters:
    """The dead-letter stream `key` of one RedisStream's group."""

    def __init__(self, client: redis.Redis, key: str, group: str) -> None:
        self.client = client
        self.key = key
        self.group = group
        self._move = client.register_script(_DEAD_LETTER)

    def move(self, shard_key: str, entry: str, message_id: str, error: str) -> bool:
        """Move a pending entry of shard_key here; False when it is no longer pending."""
        moved = self._move(
            keys=[shard_key, self.key],
            args=[self.group, entry, message_id, error, repr(time.time())],
        )
        return bool(moved)

    def entries(self, limit: int) -> list[DeadLetter]:
        entries = cast("Entries", self.client.xrange(self.key, count=limit))
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

    def count(self) -> int:
        return int(self.client.xlen(self.key))

    def find(self, message_id: str) -> tuple[str, dict[bytes, bytes]] | None:
        """The dead-letter entry of a message id: a scan, as dead letters are few."""
        start = "-"
        while True:
            entries = cast("Entries", self.client.xrange(self.key, min=start, count=_SCAN_COUNT))
            for entry, fields in entries:
                if fields.get(b"id", b"").decode() == message_id:
                    return _text(entry), fields
            if len(entries) < _SCAN_COUNT:
                return None
            start = "(" + _text(entries[-1][0])

    def replay(self, message_id: str, shard_key: str) -> str | None:
        """Put a dead letter back at the end of shard_key (the shard it came from, so the
        host's payloads stay in one stream); the new entry id, None when there is none."""
        found = self.find(message_id)
        if found is None:
            return None
        entry, fields = found
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(
            shard_key,
            {"kind": fields[b"kind"], "tenant": fields[b"tenant"], "body": fields[b"body"]},
        )
        pipe.xdel(self.key, entry)
        new_entry, _deleted = pipe.execute()
        return _text(new_entry)

    def drop(self, message_id: str) -> bool:
        found = self.find(message_id)
        if found is None:
            return False
        return bool(self.client.xdel(self.key, found[0]))
