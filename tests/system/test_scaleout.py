"""The scaled-out layout with real processes on this machine (issue 5): 2 `fleetscope server`
ingest processes (--stream redis://… --database postgresql://…, no in-process digest) on two free
ports and 2 `fleetscope worker` processes, against the machine's PostgreSQL and Redis. Payloads
go to both ingest ports; every batch is stored exactly once in PostgreSQL.

The test works in a database of its own (dropped afterwards) and under a Redis key prefix of its
own (deleted afterwards); it stops only the processes it started, by PID."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from fleetscope.store.engine import make_engine
from fleetscope.stream.redis import RedisStream
from tests.conftest import private_database
from tests.helpers import T0, free_port, payload, payload_json
from tests.processes import credentials, running, wait_ready
from tests.redis_support import REDIS_URL
from tests.snapshots import count_snapshots

pytestmark = pytest.mark.slow

HOSTS = 20
BATCHES = 200
SNAPSHOTS = 3


@pytest.fixture
def own_database() -> Iterator[str]:
    """postgresql://…/fleetscope_scaleout_<random> (psycopg's default driver name, as an
    operator writes it on the command line), dropped afterwards."""
    with private_database("fleetscope_scaleout") as url:
        yield sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _stored(database: str) -> tuple[list[str], int]:
    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            ids = [row[0] for row in conn.execute(sa.text("SELECT batch_id FROM ingested_batches"))]
            frames = count_snapshots(conn)
    finally:
        engine.dispose()
    return ids, int(frames)


def test_two_ingest_servers_and_two_workers_store_every_batch_exactly_once(
    tmp_path: Path, redis_prefix: str, own_database: str
) -> None:
    env = {
        "FLEETSCOPE_ADMIN_PASSWORD": "pw",
        "FLEETSCOPE_STREAM_PREFIX": redis_prefix,
        "FLEETSCOPE_DIGEST_BATCH_SIZE": "16",
    }
    stores = ["--stream", REDIS_URL, "--database", own_database]
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    with ExitStack() as stack:
        servers = []
        for n, port in enumerate(ports):
            data_dir = tmp_path / f"server{n}" / "data"
            data_dir.mkdir(parents=True)
            args = ["server", "--data-dir", str(data_dir), "--port", str(port), *stores]
            servers.append(stack.enter_context(running(args, data_dir, env)))
            # one after the other: the first creates the schema and the initial credentials
            wait_ready(bases[n], servers[-1])
        key = credentials(tmp_path / "server0" / "data")["agent_api_key"]
        workers = []
        for n in range(2):
            data_dir = tmp_path / f"worker{n}" / "data"
            data_dir.mkdir(parents=True)
            args = ["worker", *stores, "--consumer", f"w{n}", "--data-dir", str(data_dir)]
            workers.append(stack.enter_context(running(args, data_dir, env)))
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        clients = [
            stack.enter_context(httpx.Client(base_url=base, headers=headers, timeout=30))
            for base in bases
        ]
        sent: list[str] = []
        accepted_by = [0, 0]
        for i in range(BATCHES):
            host = i % HOSTS
            body = payload(
                SNAPSHOTS,
                hostname=f"scale-{host}",
                machine_id=f"m-scale-{host}",
                start=T0 + timedelta(seconds=30 * (i // HOSTS)),
            )
            response = clients[i % 2].post("/api/v1/ingest", content=payload_json(body))
            assert response.status_code == 202, response.text
            accepted_by[i % 2] += 1
            sent.append(str(body.batch_id))
        assert accepted_by == [BATCHES // 2, BATCHES // 2]
        stream = RedisStream.from_url(REDIS_URL, prefix=redis_prefix)
        deadline_s = 90.0
        deadline = time.monotonic() + deadline_s
        while len(_stored(own_database)[0]) < BATCHES or stream.depth() > 0:
            assert time.monotonic() < deadline, (
                f"{len(_stored(own_database)[0])} of {BATCHES} stored after {deadline_s} s"
            )
            assert all(p.poll() is None for p in [*servers, *workers])
            time.sleep(0.2)
        assert stream.dead_letters() == []
        stream.close()
        # One worker can store everything while the other is still importing (a loaded
        # machine): SIGTERM before it installs its handler would kill it, which is not what
        # this test is about. Stop each one once it has said it is up.
        for n in range(2):
            log_file = tmp_path / f"worker{n}" / "worker.log"
            while "digest workers w" not in log_file.read_text():
                assert time.monotonic() < deadline + 60, f"worker {n} did not start"
                time.sleep(0.2)
        for process in [*workers, *servers]:
            process.send_signal(signal.SIGTERM)
        for process in [*workers, *servers]:
            assert process.wait(timeout=60) == 0
    ids, frames = _stored(own_database)
    assert sorted(ids) == sorted(sent)  # every batch, none twice
    assert frames == BATCHES * SNAPSHOTS
    logs = [(tmp_path / f"worker{n}" / "worker.log").read_text() for n in range(2)]
    assert all("digest workers stopped" in log for log in logs)
