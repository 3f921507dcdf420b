"""The scaled layout: every `fleetscope worker` runs an evaluator, and the lease in the
database lets exactly one of them evaluate; when it stops, another takes over."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.worker import WorkerPool
from fleetscope.model.payload import AgentInfo, HostIdentity, Payload
from fleetscope.store.alert_tables import alert_leases
from tests.alert_sinks import WebhookSink, wait_for
from tests.helpers import payload_json, snapshot
from tests.redis_support import REDIS_URL, redis_client
from tests.server import LiveServer, start_server


@pytest.fixture
def split(tmp_path: Path, redis_prefix: str) -> Iterator[tuple[LiveServer, list[WorkerPool]]]:
    redis_client().close()
    overrides = {
        "stream_url": REDIS_URL,
        "stream_prefix": redis_prefix,
        "alert_interval_seconds": 0.2,
        "alert_lease_seconds": 1.0,
    }
    for live in start_server(tmp_path / "data", **overrides):
        pools = [
            WorkerPool(
                ServerSettings(data_dir=tmp_path / "data", **overrides),  # type: ignore[arg-type]
                consumer=f"w{n}-{uuid.uuid4().hex[:6]}",
                concurrency=1,
            )
            for n in range(2)
        ]
        threads = [threading.Thread(target=p.run) for p in pools]
        for thread in threads:
            thread.start()
        try:
            yield live, pools
        finally:
            for pool in pools:
                pool.stop()
            for thread in threads:
                thread.join(timeout=30)


def test_one_worker_evaluates_and_another_takes_over(
    split: tuple[LiveServer, list[WorkerPool]],
) -> None:
    live, pools = split
    assert live.server.settings.digest_in_process is False  # the server does not evaluate
    admin = live.user_headers()
    rule = {"name": "hot", "signal": "cpu_percent", "op": ">", "threshold": 90}
    assert live.client.post("/api/v1/alerts/rules", json=rule, headers=admin).status_code == 201
    with WebhookSink() as hook:
        channel = {"name": "hook", "kind": "webhook", "config": {"url": hook.url}}
        made = live.client.post("/api/v1/alerts/channels", json=channel, headers=admin)
        assert made.status_code == 201
        evaluators = [p.alerts.evaluator for p in pools if p.alerts is not None]
        assert len(evaluators) == 2
        wait_for(lambda: any(e.holding for e in evaluators), 10, "a worker to take the lease")
        holder = next(e for e in evaluators if e.holding)
        other = next(e for e in evaluators if e is not holder)
        assert not other.holding
        body = payload_json(hot_payload("web-1", 97.0))
        sent = live.client.post("/api/v1/ingest", content=body, headers=live.agent_headers())
        assert sent.status_code == 202
        wait_for(lambda: len(hook.received) == 1, 20, "the firing message")
        holder.stop()  # that worker's evaluator ends (and gives up its lease)
        wait_for(lambda: other.holding, 10, "the other worker to take over")
        with live.server.engine.connect() as conn:
            assert conn.execute(select(alert_leases.c.holder)).scalar_one() == other.holder
        wait_for(lambda: other.stats.rounds >= 3, 10, "rounds by the new evaluator")
        assert len(hook.received) == 1  # the firing was not sent again by the new one


def hot_payload(host: str, cpu: float) -> Payload:
    return Payload(
        schema_version=1,
        batch_id=uuid.uuid4(),
        agent=AgentInfo(version="test"),
        host=HostIdentity(machine_id=f"m-{host}", hostname=host),
        snapshots=[snapshot(datetime.now(UTC), cpu_percent=cpu)],
    )
