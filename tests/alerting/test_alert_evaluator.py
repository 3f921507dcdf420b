"""The evaluator against a real store (SQLite and PostgreSQL): rounds, grouping, restarts,
the outbox and the lease."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from fleetscope.alerting.channels import ChannelError
from fleetscope.alerting.evaluator import AlertEvaluator
from fleetscope.alerting.repo import ensure_default_rules
from fleetscope.digest.transform import message_rows
from fleetscope.model.alerts import ChannelConfig, RuleSpec
from fleetscope.model.kinds import AGENT_PAYLOAD, AGGREGATOR_METRICS
from fleetscope.model.payload import Payload
from fleetscope.query.alerts import AlertQueries
from fleetscope.store.alert_tables import alert_channels, alert_notifications, alert_rules
from fleetscope.store.writer import StoreWriter
from tests.helpers import T0, payload_json, snapshot
from tests.helpers import payload as make_payload

T0_MS = int(T0.timestamp() * 1000)


class Clock:
    def __init__(self) -> None:
        self.ms = T0_MS

    def __call__(self) -> float:
        return self.ms / 1000


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], str]] = []
        self.fail = 0

    def __call__(self, config: ChannelConfig, body: dict[str, Any], key: str) -> None:
        if self.fail:
            self.fail -= 1
            raise ChannelError("receiver down")
        self.sent.append((body, key))

    def summary(self) -> list[tuple[str, str, list[str]]]:
        return [
            (b["status"], b["receiver"], [a["labels"]["host"] for a in b["alerts"]])
            for b, _ in self.sent
        ]


def write(engine: Engine, host: str, seconds: int, cpu: float) -> None:
    p = make_payload(1, hostname=host, machine_id=f"m-{host}")
    p = Payload(
        schema_version=1,
        batch_id=p.batch_id,
        agent=p.agent,
        host=p.host,
        snapshots=[snapshot(T0 + timedelta(seconds=seconds), cpu_percent=cpu)],
    )
    StoreWriter(engine).write_batches(message_rows(AGENT_PAYLOAD, 1, payload_json(p)))


def setup_rules(engine: Engine, *specs: RuleSpec) -> None:
    queries = AlertQueries(engine)
    for spec in specs:
        queries.create_rule(1, spec, T0_MS)
    with engine.begin() as conn:
        conn.execute(
            insert(alert_channels).values(
                tenant_id=1,
                name="ops",
                kind="webhook",
                config=json.dumps({"url": "http://127.0.0.1:9/hook"}),
                enabled=True,
                created_ms=T0_MS,
            )
        )


def evaluator(engine: Engine, clock: Clock, outbox: Outbox, holder: str = "a") -> AlertEvaluator:
    return AlertEvaluator(engine, holder=holder, send=outbox, clock=clock, lease_seconds=30)


CPU = RuleSpec("CPU high", "cpu_percent", ">", 90.0, for_seconds=20, repeat_seconds=3600)
SILENT = RuleSpec("Silent", "host_silent_seconds", ">", 60.0)


def test_hosts_firing_together_make_one_message_and_a_restart_sends_nothing_twice(
    engine: Engine,
) -> None:
    setup_rules(engine, CPU)
    clock, outbox = Clock(), Outbox()
    ev = evaluator(engine, clock, outbox)
    for t in (0, 10, 20, 30):
        for host in ("web-1", "web-2"):
            write(engine, host, t, 95.0)
        clock.ms = T0_MS + t * 1000
        ev.run_once()
    assert outbox.summary() == [("firing", "ops", ["web-1", "web-2"])]
    current = AlertQueries(engine).alerts(1)
    assert [(a.host_name, a.state) for a in current] == [("web-1", "firing"), ("web-2", "firing")]
    # A new process (a restart): same database, new evaluator; the lease is its own after expiry.
    clock.ms += 31_000
    again = evaluator(engine, clock, outbox, holder="b")
    assert again.run_once()
    assert len(outbox.sent) == 1
    for host in ("web-1", "web-2"):
        write(engine, host, 70, 10.0)
    clock.ms = T0_MS + 71_000
    again.run_once()
    assert outbox.summary()[1:] == [("resolved", "ops", ["web-1", "web-2"])]
    history = AlertQueries(engine).history(1)
    assert [h.state for h in history if h.host_name == "web-1"] == ["resolved", "firing", "pending"]


def test_a_silent_host_fires_on_schedule(engine: Engine) -> None:
    setup_rules(engine, SILENT)
    write(engine, "web-1", 0, 10.0)
    clock, outbox = Clock(), Outbox()
    ev = evaluator(engine, clock, outbox)
    ev.run_once()
    clock.ms = T0_MS + 30_000
    ev.run_once()
    assert outbox.sent == []
    clock.ms = T0_MS + 61_000
    ev.run_once()
    assert outbox.summary() == [("firing", "ops", ["web-1"])]
    write(engine, "web-1", 62, 10.0)
    clock.ms = T0_MS + 63_000
    ev.run_once()
    assert outbox.summary()[-1] == ("resolved", "ops", ["web-1"])


def test_failed_sends_are_retried_with_back_off_under_the_same_key(engine: Engine) -> None:
    setup_rules(engine, RuleSpec("CPU now", "cpu_percent", ">", 90.0))
    write(engine, "web-1", 0, 99.0)
    clock, outbox = Clock(), Outbox()
    outbox.fail = 1
    ev = evaluator(engine, clock, outbox)
    ev.run_once()
    assert outbox.sent == [] and ev.delivery.failed_attempts == 1
    clock.ms += 5_000
    ev.run_once()
    assert outbox.sent == []  # within the back-off
    clock.ms += 6_000
    ev.run_once()
    assert len(outbox.sent) == 1
    with engine.connect() as conn:
        row = conn.execute(select(alert_notifications)).one()
    assert (row.status, row.attempts, row.idempotency_key) == ("sent", 2, outbox.sent[0][1])


def test_a_message_interrupted_mid_send_goes_again_with_its_key(engine: Engine) -> None:
    setup_rules(engine, RuleSpec("CPU now", "cpu_percent", ">", 90.0))
    write(engine, "web-1", 0, 99.0)
    clock, outbox = Clock(), Outbox()
    evaluator(engine, clock, outbox).run_once()
    key = outbox.sent[0][1]
    with engine.begin() as conn:  # as a process killed between claiming and sending leaves it
        conn.execute(update(alert_notifications).values(status="sending"))
    clock.ms += 31_000
    evaluator(engine, clock, outbox, holder="b").run_once()
    assert [k for _, k in outbox.sent] == [key, key]


def test_one_evaluator_at_a_time(engine: Engine) -> None:
    setup_rules(engine, RuleSpec("CPU now", "cpu_percent", ">", 90.0))
    write(engine, "web-1", 0, 99.0)
    clock, outbox = Clock(), Outbox()
    a, b = evaluator(engine, clock, outbox, "a"), evaluator(engine, clock, outbox, "b")
    assert a.run_once() and not b.run_once()
    clock.ms += 10_000
    assert a.run_once() and not b.run_once()  # renewed
    clock.ms += 31_000  # a died: its lease expired
    assert b.run_once() and not a.run_once()
    assert len(outbox.sent) == 1


def test_silence_holds_the_message_until_it_ends(engine: Engine) -> None:
    setup_rules(engine, RuleSpec("CPU now", "cpu_percent", ">", 90.0))
    queries = AlertQueries(engine)
    queries.create_silence(
        1,
        rule_id=None,
        host_pattern="web-*",
        starts_ms=T0_MS,
        ends_ms=T0_MS + 20_000,
        reason="maintenance",
        created_by="admin",
        now_ms=T0_MS,
    )
    write(engine, "web-1", 0, 99.0)
    clock, outbox = Clock(), Outbox()
    ev = evaluator(engine, clock, outbox)
    ev.run_once()
    clock.ms += 10_000
    ev.run_once()
    assert outbox.sent == []
    clock.ms += 11_000
    ev.run_once()
    assert outbox.summary() == [("firing", "ops", ["web-1"])]


def test_ready_made_rules_are_made_once_per_tenant(engine: Engine) -> None:
    assert ensure_default_rules(engine, T0_MS) == 7
    assert ensure_default_rules(engine, T0_MS) == 0
    with engine.connect() as conn:
        names = set(conn.execute(select(alert_rules.c.name)).scalars())
    assert "CPU above 90 %" in names and "Host stopped reporting" in names
    clock, outbox = Clock(), Outbox()
    write(engine, "web-1", 0, 10.0)
    evaluator(engine, clock, outbox).run_once()  # every default rule evaluates without error
    assert outbox.sent == []


def test_a_restart_is_not_every_hosts_silence(engine: Engine) -> None:
    """Hosts last heard before the evaluator began are not silent until it has watched them
    for longer than the threshold; one still silent then fires."""
    setup_rules(engine, SILENT)
    write(engine, "web-1", 0, 10.0)
    write(engine, "web-2", 0, 10.0)
    clock, outbox = Clock(), Outbox()
    clock.ms = T0_MS + 100_000  # the server was down for 100 s
    ev = evaluator(engine, clock, outbox)
    ev.run_once()
    write(engine, "web-1", 101, 10.0)
    clock.ms = T0_MS + 130_000
    ev.run_once()
    assert outbox.sent == []
    clock.ms = T0_MS + 161_000
    ev.run_once()
    assert outbox.summary() == [("firing", "ops", ["web-2"])]


def test_a_server_losing_the_race_for_the_ready_made_rules_starts_anyway(engine: Engine) -> None:
    """Another server made a rule of the same name first: nothing half-made, no error."""
    AlertQueries(engine).create_rule(1, RuleSpec("CPU above 90 %", "cpu_percent", ">", 90.0), 0)
    assert ensure_default_rules(engine, T0_MS) == 0
    assert [r.spec.name for r in AlertQueries(engine).rules(1)] == ["CPU above 90 %"]


def test_old_history_and_delivered_messages_are_pruned(engine: Engine) -> None:
    setup_rules(engine, RuleSpec("CPU now", "cpu_percent", ">", 90.0))
    write(engine, "web-1", 0, 99.0)
    clock, outbox = Clock(), Outbox()
    evaluator(engine, clock, outbox).run_once()
    assert len(AlertQueries(engine).history(1)) == 1
    clock.ms += 91 * 86_400_000  # the firing state stays; its history row and message go
    evaluator(engine, clock, outbox, holder="b").run_once()
    assert AlertQueries(engine).history(1) == []
    with engine.connect() as conn:  # only the reminder this round sent (repeat_seconds)
        assert conn.execute(select(alert_notifications.c.created_ms)).scalars().all() == [clock.ms]
    assert [a.state for a in AlertQueries(engine).alerts(1)] == ["firing"]


def test_frames_of_two_layouts_at_one_instant_are_one_view_of_the_host(engine: Engine) -> None:
    """An agent's snapshot and a device sample of the same host at the same instant are two
    frames (two layouts) at its last-seen time: the round sees the host once, with the series
    of both. It used to write the host's state twice and fail, every round, for every tenant."""
    setup_rules(engine, CPU, SILENT, RuleSpec("UPS", "ups_load_percent", ">", 50.0))
    write(engine, "web-1", 0, 95.0)
    sample = {"device_name": "web-1", "metric_name": "ups_load_percent", "value": 80.0,
              "timestamp": T0.isoformat()}  # fmt: skip
    body = json.dumps({"metrics": [sample]}).encode()
    StoreWriter(engine).write_batches(message_rows(AGGREGATOR_METRICS, 1, body))
    assert evaluator(engine, Clock(), Outbox()).run_once()
    alerts = AlertQueries(engine).alerts(1, ("pending", "firing", "inactive"))
    assert sorted((a.rule_name, a.host_name, a.state) for a in alerts) == [
        ("CPU high", "web-1", "pending"),
        ("Silent", "web-1", "inactive"),
        ("UPS", "web-1", "firing"),
    ]
