"""What only the Redis backend has: shards, XAUTOCLAIM, deletion on ack instead of trimming, the
backlog limit, the dead-letter stream, NOGROUP recovery, WAIT. Each test on its own key prefix
(the redis_prefix fixture), deleted afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from fleetscope.stream.base import NewMessage, StreamBacklogFull, StreamUnavailable
from fleetscope.stream.redis import RedisStream
from tests.helpers import free_port
from tests.redis_support import REDIS_URL, redis_client


@pytest.fixture
def raw(redis_prefix: str) -> Iterator[redis.Redis]:
    client = redis_client()
    yield client
    client.close()


def _stream(prefix: str, **options: object) -> RedisStream:
    return RedisStream.from_url(REDIS_URL, prefix=prefix, **options)  # type: ignore[arg-type]


def _msg(i: int, host: str = "h") -> NewMessage:
    return NewMessage("agent_payload", 1, f"body-{i}".encode(), key=host)


def test_hosts_spread_over_shards_and_each_stays_in_one(
    redis_prefix: str, raw: redis.Redis
) -> None:
    stream = _stream(redis_prefix, shards=4)
    stream.enqueue([_msg(i, host=f"host-{i % 40}") for i in range(200)])
    lengths = [raw.xlen(f"{redis_prefix}:stream:{shard}") for shard in range(4)]
    assert sum(lengths) == 200
    assert all(n >= 20 for n in lengths), lengths  # crc32 over 40 hosts: no shard starves
    shard_of_host: dict[str, set[int]] = {}
    for message in stream.read("c", 500, 0):
        shard = int(message.id.split("/")[0])
        host = f"host-{int(message.body.split(b'-')[1]) % 40}"
        shard_of_host.setdefault(host, set()).add(shard)
    assert all(len(shards) == 1 for shards in shard_of_host.values())
    stream.close()


def test_a_read_takes_no_more_than_it_returns_so_a_hosts_order_holds(
    redis_prefix: str, raw: redis.Redis
) -> None:
    """COUNT is per shard: a read that took extras would keep them pending for its consumer
    while the next consumer took newer entries of the same shard, one host out of order."""
    stream = _stream(redis_prefix, shards=4)
    stream.enqueue([_msg(i, host=f"host-{i % 40}") for i in range(200)])
    for wanted in (1, 3, 5, 7):
        consumer = f"c{wanted}"
        taken = stream.read(consumer, wanted, 0)
        assert len(taken) == wanted
        keys = [f"{redis_prefix}:stream:{s}" for s in range(4)]
        pending = sum(
            len(raw.xpending_range(key, "digest", "-", "+", 500, consumer)) for key in keys
        )
        assert pending == wanted  # delivered to this consumer == returned to it
        stream.ack([m.id for m in taken])
    seen: list[bytes] = []
    for turn in range(200):
        batch = stream.read(f"r{turn % 3}", 6, 0)
        if not batch:
            break
        seen += [m.body for m in batch]
        stream.ack([m.id for m in batch])
    assert len(seen) == 200 - 16
    for host in range(40):
        mine = [int(b.split(b"-")[1]) for b in seen if int(b.split(b"-")[1]) % 40 == host]
        assert mine == sorted(mine)
    stream.close()


def test_a_dead_consumers_messages_are_claimed_after_the_visibility_timeout(
    redis_prefix: str, raw: redis.Redis
) -> None:
    stream = _stream(redis_prefix, shards=2, visibility_timeout_seconds=0.5)
    stream.enqueue([_msg(i, host=f"h{i}") for i in range(6)])
    taken = stream.read("dies", 6, 0)
    assert len(taken) == 6
    assert stream.read("survivor", 10, 0) == []  # still within the dead one's timeout
    time.sleep(0.6)
    claimed = stream.read("survivor", 10, 0)
    assert sorted(m.body for m in claimed) == sorted(m.body for m in taken)
    assert {m.attempts for m in claimed} == {2}
    stream.ack([m.id for m in claimed])
    assert stream.depth() == 0
    for shard in range(2):
        assert raw.xpending(f"{redis_prefix}:stream:{shard}", "digest")["pending"] == 0
    stream.close()


def test_ack_deletes_only_acknowledged_entries(redis_prefix: str, raw: redis.Redis) -> None:
    """The length policy: entries leave the stream when acknowledged, never by trimming, so
    pending and unread ones stay however long digest takes."""
    stream = _stream(redis_prefix, shards=1)
    stream.enqueue([_msg(i) for i in range(10)])
    first = stream.read("c", 4, 0)
    stream.ack([m.id for m in first[:2]])
    key = f"{redis_prefix}:stream:0"
    remaining = [fields[b"body"] for _, fields in raw.xrange(key)]
    assert remaining == [f"body-{i}".encode() for i in range(2, 10)]  # 2 pending + 6 unread
    assert stream.depth() == 8
    assert raw.xpending(key, "digest")["pending"] == 2
    assert stream.read("c", 10, 0)[0].body == b"body-4"
    stream.close()


def test_over_the_backlog_limit_enqueue_refuses_instead_of_dropping(redis_prefix: str) -> None:
    stream = _stream(redis_prefix, shards=2, max_backlog=5, retry_after_seconds=7)
    stream.enqueue([_msg(i) for i in range(5)])
    with pytest.raises(StreamBacklogFull) as refused:
        stream.enqueue([_msg(5)])
    assert refused.value.retry_after_seconds == 7
    assert isinstance(refused.value, StreamUnavailable)
    assert stream.depth() == 5
    batch = stream.read("c", 2, 0)
    with pytest.raises(StreamBacklogFull):  # read but not acknowledged still counts
        stream.enqueue([_msg(5)])
    stream.ack([m.id for m in batch])
    stream.enqueue([_msg(5)])
    assert stream.depth() == 4
    stream.close()


def test_dead_letters_keep_the_error_and_leave_nothing_pending(
    redis_prefix: str, raw: redis.Redis
) -> None:
    stream = _stream(redis_prefix, shards=1)
    (message_id,) = stream.enqueue([_msg(1)])
    for attempt in (1, 2):
        (message,) = stream.read("c", 1, 0)
        assert message.attempts == attempt
        assert stream.fail(message.id, f"bad {attempt}", max_attempts=2) == (attempt == 2)
    assert stream.fail(message_id, "again", max_attempts=2) is False  # gone: not twice
    (letter,) = stream.dead_letters()
    assert (letter.id, letter.body, letter.error, letter.tenant_id) == (
        message_id,
        b"body-1",
        "bad 2",
        1,
    )
    assert raw.xlen(f"{redis_prefix}:dead") == 1
    assert raw.xlen(f"{redis_prefix}:stream:0") == 0
    assert raw.xpending(f"{redis_prefix}:stream:0", "digest")["pending"] == 0
    stream.close()


def test_groups_come_back_when_redis_lost_the_keys(redis_prefix: str, raw: redis.Redis) -> None:
    """A Redis restarted without persistence forgets streams and groups: reads recreate the
    group from id 0, so what was enqueued since is still digested."""
    stream = _stream(redis_prefix, shards=2)
    stream.enqueue([_msg(1)])
    assert len(stream.read("c", 10, 0)) == 1
    raw.delete(*[f"{redis_prefix}:stream:{shard}" for shard in range(2)])
    stream.enqueue([_msg(2)])  # XADD recreates the stream, without the group
    assert [m.body for m in stream.read("c", 10, 0)] == [b"body-2"]
    stream.close()


def test_wait_for_replicas_that_are_not_there_is_unavailable(redis_prefix: str) -> None:
    stream = _stream(redis_prefix, wait_replicas=1, wait_timeout_ms=50)
    with pytest.raises(StreamUnavailable, match="WAIT: 0 of 1 replicas"):
        stream.enqueue([_msg(1)])
    stream.close()


def test_an_unreachable_redis_is_unavailable_everywhere() -> None:
    stream = RedisStream.from_url(f"redis://127.0.0.1:{free_port()}/0", prefix="nowhere")
    calls = [
        lambda: stream.enqueue([_msg(1)]),
        lambda: stream.read("c", 1, 0),
        lambda: stream.ack(["0/1-0"]),
        lambda: stream.fail("0/1-0", "x", 3),
        stream.depth,
        stream.oldest_age_seconds,
        stream.ping,
        stream.dead_letters,
    ]
    for call in calls:
        with pytest.raises(StreamUnavailable):
            call()
    stream.close()
