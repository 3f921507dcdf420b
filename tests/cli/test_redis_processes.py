"""Reliability on Redis with real processes.

1. Two `fleetscope worker`s digest a backlog; one is SIGKILLed while it holds a batch. The other
   takes that batch over once the dead one's lease expires, within 10 s of the kill: every
   payload is stored exactly once.
   (The machine's Redis, under a key prefix of the test's own, deleted afterwards.)
2. Redis is SIGKILLed while ingest is taking payloads: ingest answers 503, never a 2xx it cannot
   keep, and 202 again once Redis is back; every 202 is in the stream afterwards. (A private
   redis-server on a free port that the test starts and stops by PID.)

Processes are stopped by PID only; loops are bounded by deadlines."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis

from fleetscope.stream.redis import RedisStream
from tests.helpers import T0, free_port, payload, payload_json
from tests.redis_support import REDIS_URL, redis_client, start_private_redis
from tests.server import LiveServer, start_server
from tests.snapshots import SNAPSHOT_ROWS_SQL, snapshot_keys
from tests.system.test_end_to_end import credentials, running, wait_ready

pytestmark = pytest.mark.slow

PAYLOADS = 400
SNAPSHOTS = 3


def _pending_of(client: redis.Redis, prefix: str, consumer: str, shards: int) -> int:
    total = 0
    for shard in range(shards):
        try:
            summary = client.xpending(f"{prefix}:stream:{shard}", "digest")
        except redis.ResponseError as exc:  # no group yet: no worker has read
            assert "NOGROUP" in str(exc)
            continue
        for entry in summary["consumers"] or []:
            if entry["name"] in (consumer, consumer.encode()):
                total += int(entry["pending"])
    return total


def _stored(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        batches = conn.execute("SELECT count(*) FROM ingested_batches").fetchone()[0]
        frames = len(snapshot_keys(conn.execute(SNAPSHOT_ROWS_SQL)))
    return int(batches), int(frames)


def _pending_ids(client: redis.Redis, prefix: str, consumer: str, shards: int) -> set[str]:
    return {
        f"{shard}/{row['message_id'].decode()}"
        for shard in range(shards)
        for row in client.xpending_range(
            f"{prefix}:stream:{shard}", "digest", "-", "+", 10_000, consumername=consumer
        )
    }


def _still_in_stream(client: redis.Redis, prefix: str, ids: set[str]) -> set[str]:
    """Those of ids not yet acknowledged: a worker acknowledges (XACK + XDEL) only after its
    commit, so an id gone from the stream is stored."""
    left = set()
    for message_id in ids:
        shard, entry = message_id.split("/")
        if client.xrange(f"{prefix}:stream:{shard}", entry, entry):
            left.add(message_id)
    return left


def _consumers(client: redis.Redis, prefix: str, shards: int) -> set[str]:
    return {
        info["name"].decode()
        for shard in range(shards)
        for info in client.xinfo_consumers(f"{prefix}:stream:{shard}", "digest")
    }


def test_a_killed_workers_batch_is_finished_by_another_exactly_once(
    tmp_path: Path, redis_prefix: str
) -> None:
    """With the default lease (5 s) and visibility timeout (60 s): worker-a is SIGKILLed while
    it holds a batch; worker-b, which had to leave it alone while worker-a lived, stores it
    within 10 s of the kill, and every payload is stored exactly once.

    Deterministic: the test holds SQLite's write lock while both workers start, so each reads
    a batch and waits in its write (busy_timeout, store/engine.py) for as long as the test
    wants; the kill cannot race worker-a finishing its batch (it used to poll for a moment
    when worker-a held one, and failed when worker-b had digested everything first)."""
    data_dir, port = tmp_path / "data", free_port()
    db = data_dir / "fleetscope.db"
    base = f"http://127.0.0.1:{port}"
    env = {
        "FLEETSCOPE_ADMIN_PASSWORD": "pw",
        "FLEETSCOPE_STREAM_PREFIX": redis_prefix,
        "FLEETSCOPE_DIGEST_BATCH_SIZE": "10",
        "FLEETSCOPE_ALERTS_EVALUATE": "false",  # nothing else waits for the lock
    }
    raw = redis_client()
    stores = ["--stream", REDIS_URL, "--database", f"sqlite:///{db}"]
    with running(
        ["server", "--data-dir", str(data_dir), "--port", str(port), *stores], data_dir, env
    ) as server:
        wait_ready(base, server)
        key = credentials(data_dir)["agent_api_key"]
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base, headers=headers) as client:
            for i in range(PAYLOADS):
                body = payload(
                    SNAPSHOTS,
                    hostname=f"h{i % 25}",
                    machine_id=f"m{i % 25}",
                    start=T0 + timedelta(minutes=i),
                )
                assert client.post("/api/v1/ingest", content=payload_json(body)).status_code == 202
        assert _stored(db) == (0, 0)  # the server leaves digest to workers
        lock = sqlite3.connect(db, timeout=30, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        b_dir = tmp_path / "b" / "data"  # running() logs beside the data dir: b/worker.log
        b_dir.parent.mkdir()
        with (
            running(["worker", *stores, "--consumer", "worker-a"], data_dir, env) as a,
            running(["worker", *stores, "--consumer", "worker-b"], b_dir, env) as b,
        ):
            deadline = time.monotonic() + 60
            while not (
                _pending_of(raw, redis_prefix, "worker-a", 4)
                and _pending_of(raw, redis_prefix, "worker-b", 4)
            ):
                assert time.monotonic() < deadline, "the workers did not read within 60 s"
                assert a.poll() is None and b.poll() is None
                time.sleep(0.05)
            # Alive, waiting in its write for longer than its lease: worker-a keeps its batch.
            held = _pending_ids(raw, redis_prefix, "worker-a", 4)
            time.sleep(6)
            assert _pending_ids(raw, redis_prefix, "worker-a", 4) >= held
            orphaned = _pending_ids(raw, redis_prefix, "worker-a", 4)
            a.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            a.wait(timeout=10)
            lock.rollback()
            lock.close()
            while _still_in_stream(raw, redis_prefix, orphaned):
                assert time.monotonic() - killed < 10, "worker-a's batch not stored within 10 s"
                assert b.poll() is None
                time.sleep(0.05)
            stream = RedisStream.from_url(REDIS_URL, prefix=redis_prefix)
            deadline = time.monotonic() + 60
            while stream.depth() > 0:
                assert time.monotonic() < deadline, f"{stream.depth()} messages left undigested"
                assert b.poll() is None
                time.sleep(0.2)
            assert _pending_of(raw, redis_prefix, "worker-a", 4) == 0
            assert stream.dead_letters() == []
            stream.close()
            # worker-a holds nothing and no lease: worker-b's sweeps remove it from the group.
            deadline = time.monotonic() + 10
            while "worker-a" in _consumers(raw, redis_prefix, 4):
                assert time.monotonic() < deadline, "the dead consumer stayed in the group"
                time.sleep(0.2)
            b.send_signal(signal.SIGTERM)
            assert b.wait(timeout=30) == 0
        with sqlite3.connect(db) as conn:
            stored_ids = {row[0] for row in conn.execute("SELECT batch_id FROM ingested_batches")}
        assert _stored(db) == (PAYLOADS, PAYLOADS * SNAPSHOTS)  # each batch once, each frame once
        assert len(stored_ids) == PAYLOADS
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    raw.close()
    log_b = (tmp_path / "b" / "worker.log").read_text()
    assert "worker-b took over" in log_b and "of worker-a, whose lease expired" in log_b
    assert "digest workers stopped" in log_b


def test_ingest_answers_503_while_redis_is_down_and_never_a_false_2xx(tmp_path: Path) -> None:
    port = free_port()
    redis_dir = tmp_path / "redis"
    servers = [start_private_redis(port, redis_dir)]
    try:
        app = start_server(
            tmp_path / "data", stream_url=f"redis://127.0.0.1:{port}/0", stream_prefix="t"
        )
        with contextlib.closing(app):
            _ingest_through_an_outage(next(app), servers, port, redis_dir)
    finally:
        for process in servers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)


def _ingest_through_an_outage(
    live: LiveServer, servers: list[subprocess.Popen[bytes]], port: int, redis_dir: Path
) -> None:
    accepted: list[str] = []
    statuses: list[int] = []
    stop = threading.Event()

    def send_one() -> int:
        body = payload(1)
        response = live.client.post(
            "/api/v1/ingest", content=payload_json(body), headers=live.agent_headers()
        )
        if response.status_code == 202:
            accepted.append(str(body.batch_id))
        statuses.append(response.status_code)
        return response.status_code

    def keep_sending() -> None:
        while not stop.is_set():
            send_one()

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        time.sleep(0.5)
        servers[0].send_signal(signal.SIGKILL)  # mid-ingest: requests are in flight
        servers[0].wait(timeout=10)
        time.sleep(0.5)
        down_since = len(statuses)
        time.sleep(1.0)
        assert statuses[down_since:] and set(statuses[down_since:]) == {503}
        started = time.monotonic()
        assert send_one() == 503
        assert time.monotonic() - started < 2, "503 must come promptly"
        ready = live.client.get("/readyz")
        assert ready.status_code == 503 and "stream" in ready.json()["down"]
        assert "fleetscope_stream_depth NaN" in live.client.get("/metrics").text
        servers.append(start_private_redis(port, redis_dir))  # same port, same AOF
        deadline = time.monotonic() + 10
        while statuses[-1] != 202:
            assert time.monotonic() < deadline, "ingest did not recover within 10 s"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        sender.join(timeout=30)
    assert set(statuses) == {202, 503}
    assert statuses.count(503) >= 3 and accepted
    stream = live.server.stream
    stored = {json.loads(m.body)["batch_id"] for m in stream.read("check", 100_000, 0)}
    assert set(accepted) <= stored, "a payload answered 202 is missing from the stream"
    assert len(stored) == stream.depth()
    assert live.client.get("/readyz").status_code == 200
