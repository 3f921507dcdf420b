"""PostgreSQL unreachable for a while: the digest worker retries, and every accepted message
ends up stored exactly once. The outage is a TCP proxy between the worker and the real server
that the test cuts and restores; the server itself keeps running for everyone else."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from fleetscope.digest.transform import AGENT_PAYLOAD
from fleetscope.digest.worker import DigestWorker
from fleetscope.store.engine import make_engine, migrate
from fleetscope.store.tables import ingested_batches
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import NewMessage
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import T0, payload, payload_json
from tests.snapshots import count_snapshots
from tests.tcp_proxy import TcpProxy


def _wait(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_outage_loses_and_doubles_nothing(database_url: str, tmp_path: Path) -> None:
    direct = make_engine(database_url)
    migrate(direct)
    with direct.begin() as conn:
        conn.exec_driver_sql("INSERT INTO tenants (name, created_ms) VALUES ('t', 0)")
    url = sa.make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    proxied = make_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
    # Messages a failed write had claimed come back after the visibility timeout (60 s by
    # default); short here so the test does not wait a minute.
    stream = SQLiteStream(tmp_path / "stream.db", visibility_timeout_seconds=2.0)
    worker = DigestWorker(stream, StoreWriter(proxied), batch_size=4)
    thread = threading.Thread(target=worker.run, name="digest")
    payloads = [
        payload(3, machine_id=f"m-{i % 3}", start=T0 + timedelta(minutes=i)) for i in range(24)
    ]

    def send(first: int, last: int) -> None:
        stream.enqueue(
            [NewMessage(AGENT_PAYLOAD, 1, payload_json(p)) for p in payloads[first:last]]
        )

    thread.start()
    try:
        send(0, 8)
        _wait(lambda: stream.depth() == 0, 20, "digest before the outage")
        proxy.cut()
        send(8, 20)
        send(4, 8)  # replays of batches already stored
        time.sleep(1.5)  # the worker fails, backs off, fails again
        assert stream.depth() > 0
        proxy.start()
        send(20, 24)
        _wait(lambda: stream.depth() == 0, 40, "digest after the outage")
    finally:
        worker.stop()
        thread.join(timeout=10)
        proxy.close()
        stream.close()
        proxied.dispose()
    with direct.connect() as conn:
        frames = count_snapshots(conn)
        batches = conn.execute(
            sa.select(sa.func.count()).select_from(ingested_batches)
        ).scalar_one()
    direct.dispose()
    assert (batches, frames) == (24, 24 * 3)
    assert stream_dead_letters_empty(tmp_path)


def stream_dead_letters_empty(tmp_path: Path) -> bool:
    stream = SQLiteStream(tmp_path / "stream.db")
    try:
        return stream.dead_letters() == []
    finally:
        stream.close()
