"""Chaos in the scaled layout (issue 15): a `fleetscope server` and 2 `fleetscope worker`
processes on PostgreSQL and Redis, each reached through a TCP proxy (tests/tcp_proxy.py) that
the test cuts and restores during a steady load. At the end every sample answered 2xx is
stored exactly once (rows per host and time), nothing answered otherwise is stored twice, every
refusal was a 503 with Retry-After, and both workers are alive, idle and stop cleanly.

A payload refused during an outage is sent once more afterwards, with its batch id, as the
agent's spool does. Everything runs on 127.0.0.1 in a database and a Redis key prefix of the
test's own; only the processes started here are stopped, by PID."""

from __future__ import annotations

import collections
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from fleetscope.model.payload import Payload
from fleetscope.store.engine import make_engine
from fleetscope.stream.redis import RedisStream
from tests.conftest import private_database
from tests.helpers import T0, free_port, payload, payload_json
from tests.processes import credentials, running, wait_ready
from tests.redis_support import REDIS_URL
from tests.snapshots import stored_snapshots
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

HOSTS = 12
PAYLOADS = 240
SNAPSHOTS = 2
SEND_EVERY_SECONDS = 0.04
OUTAGE_SECONDS = 3.0


@pytest.fixture
def own_database() -> Iterator[str]:
    with private_database("fleetscope_chaos") as url:
        yield url


def _payloads() -> list[Payload]:
    return [
        payload(
            SNAPSHOTS,
            hostname=f"chaos-{i % HOSTS}",
            machine_id=f"m-chaos-{i % HOSTS}",
            start=T0 + timedelta(seconds=SNAPSHOTS * 10 * (i // HOSTS)),
        )
        for i in range(PAYLOADS)
    ]


def _send(client: httpx.Client, body: bytes, refusals: list[str]) -> int:
    """The status (0: no answer); a refusal that is not a 503 with Retry-After is noted."""
    try:
        response = client.post("/api/v1/ingest", content=body)
    except httpx.HTTPError as exc:
        refusals.append(f"no answer: {exc!r}")
        return 0
    if not 200 <= response.status_code < 300 and (
        response.status_code != 503 or "retry-after" not in response.headers
    ):
        refusals.append(f"{response.status_code} {response.headers} {response.text[:200]}")
    return response.status_code


def test_database_and_redis_cut_during_load_store_every_accepted_sample_once(
    tmp_path: Path, redis_prefix: str, own_database: str
) -> None:
    url = sa.make_url(own_database)
    redis_url = sa.make_url(REDIS_URL.replace("redis://", "postgresql://", 1))
    db_proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    redis_proxy = TcpProxy(redis_url.host or "127.0.0.1", redis_url.port or 6379)
    db_proxy.start()
    redis_proxy.start()
    proxied_db = url.set(drivername="postgresql", port=db_proxy.port).render_as_string(
        hide_password=False
    )
    stores = ["--stream", f"redis://127.0.0.1:{redis_proxy.port}/0", "--database", proxied_db]
    env = {
        "FLEETSCOPE_STREAM_PREFIX": redis_prefix,
        "FLEETSCOPE_DIGEST_BATCH_SIZE": "16",
        # A batch a worker held when the database went away comes back this soon.
        "FLEETSCOPE_STREAM_VISIBILITY_TIMEOUT_SECONDS": "3",
    }
    payloads = _payloads()
    status: list[int] = [0] * PAYLOADS
    wrong: list[str] = []  # refusals other than 503 + Retry-After
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with ExitStack() as stack:
            data_dir = tmp_path / "server" / "data"
            data_dir.mkdir(parents=True)
            server = stack.enter_context(
                running(
                    ["server", "--data-dir", str(data_dir), "--port", str(port), *stores],
                    data_dir,
                    env,
                )
            )
            wait_ready(base, server, timeout=60)
            workers = []
            for n in range(2):
                worker_dir = tmp_path / f"worker{n}" / "data"
                worker_dir.mkdir(parents=True)
                args = ["worker", *stores, "--consumer", f"w{n}", "--data-dir", str(worker_dir)]
                workers.append(stack.enter_context(running(args, worker_dir, env)))
            # Both workers digesting before the load starts: the outages are theirs to survive.
            deadline = time.monotonic() + 90
            for n in range(2):
                log_file = tmp_path / f"worker{n}" / "worker.log"
                while "digest workers w" not in log_file.read_text():
                    assert time.monotonic() < deadline, f"worker {n} did not start"
                    assert workers[n].poll() is None, f"worker {n} exited"
                    time.sleep(0.2)
            key = credentials(data_dir)["agent_api_key"]
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            client = stack.enter_context(httpx.Client(base_url=base, headers=headers, timeout=30))

            def load() -> None:
                for i, p in enumerate(payloads):
                    status[i] = _send(client, payload_json(p), wrong)
                    time.sleep(SEND_EVERY_SECONDS)

            sender = threading.Thread(target=load, name="load")
            sender.start()
            time.sleep(1.5)
            db_proxy.cut()
            time.sleep(OUTAGE_SECONDS)
            db_proxy.start()
            time.sleep(1.5)
            redis_proxy.cut()
            time.sleep(OUTAGE_SECONDS)
            redis_proxy.start()
            sender.join(timeout=120)
            assert not sender.is_alive()
            refused = [i for i, code in enumerate(status) if not 200 <= code < 300]
            assert refused, "the Redis outage refused nothing: the test did not cut anything"
            assert wrong == [], "an outage answered other than 503 + Retry-After"
            assert len(refused) < PAYLOADS
            for i in refused:  # the agent's spool sends them again, same batch id
                status[i] = _send(client, payload_json(payloads[i]), wrong)
            stream = RedisStream.from_url(REDIS_URL, prefix=redis_prefix)
            stack.callback(stream.close)
            deadline = time.monotonic() + 60
            while stream.depth() > 0:
                assert time.monotonic() < deadline, f"{stream.depth()} messages never digested"
                assert all(w.poll() is None for w in workers), "a worker died"
                time.sleep(0.2)
            assert stream.dead_letters() == []
            for process in [*workers, server]:
                assert process.poll() is None
                process.send_signal(signal.SIGTERM)
            for process in [*workers, server]:
                assert process.wait(timeout=60) == 0  # not stuck: each finished and left
    finally:
        db_proxy.close()
        redis_proxy.close()
    engine = make_engine(own_database)
    try:
        with engine.connect() as conn:
            names = dict(conn.execute(sa.text("SELECT id, name FROM hosts")).all())
            keys = stored_snapshots(conn)
            batches = conn.execute(
                sa.text("SELECT batch_id, count(*) FROM ingested_batches GROUP BY batch_id")
            ).all()
    finally:
        engine.dispose()
    stored = collections.Counter((names[host], ts) for host, ts, _ in keys)
    assert all(count == 1 for count in stored.values()), "a sample stored twice"
    assert all(count == 1 for _, count in batches), "a batch stored twice"
    accepted = [p for p, code in zip(payloads, status, strict=True) if 200 <= code < 300]
    for p in accepted:
        for snap in p.snapshots:
            assert stored.get((p.host.hostname, round(snap.timestamp.timestamp() * 1000))) == 1
    assert len(stored) >= len(accepted) * SNAPSHOTS
    assert len(stored) <= PAYLOADS * SNAPSHOTS
