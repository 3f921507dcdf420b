"""The alerting REST API on the in-process server: rules, alerts, silences, channels and the
test-send, and who may do what."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetscope.alerting.evaluator import AlertEvaluator
from tests.alert_sinks import SmtpSink, WebhookSink
from tests.helpers import payload, payload_json
from tests.server import LiveServer, start_server


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    yield from start_server(tmp_path, alerts_evaluate=False)


def test_ready_made_rules_are_there_and_editable(live: LiveServer) -> None:
    admin = live.user_headers()
    rules = live.client.get("/api/v1/alerts/rules", headers=admin).json()
    by_name = {r["name"]: r for r in rules}
    assert (
        by_name["CPU above 90 %"]["for_seconds"] == 300 and by_name["CPU above 90 %"]["ready_made"]
    )
    assert len(rules) == 7
    cpu = by_name["CPU above 90 %"]
    changed = live.client.patch(
        f"/api/v1/alerts/rules/{cpu['id']}", json={"threshold": 80, "enabled": False}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["threshold"] == 80
    assert changed.json()["enabled"] is False
    refused = live.client.delete(f"/api/v1/alerts/rules/{cpu['id']}", headers=admin)
    assert refused.status_code == 409 and "disable" in refused.json()["detail"]


def test_rule_crud_and_errors_name_the_field(live: LiveServer) -> None:
    admin = live.user_headers()
    rule = {"name": "load", "signal": "cpu_load1", "op": ">", "threshold": 8, "for_seconds": 60}
    created = live.client.post("/api/v1/alerts/rules", json=rule, headers=admin)
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    assert live.client.post("/api/v1/alerts/rules", json=rule, headers=admin).status_code == 409
    bad = live.client.post(
        "/api/v1/alerts/rules", json={**rule, "name": "x", "op": "=>"}, headers=admin
    )
    assert bad.status_code == 422 and "op" in bad.text
    window = {**rule, "name": "y", "params": {"window_seconds": "10"}}
    bad = live.client.post("/api/v1/alerts/rules", json=window, headers=admin)
    assert bad.status_code == 422 and "window_seconds" in bad.json()["detail"]
    unknown = live.client.patch(
        f"/api/v1/alerts/rules/{rule_id}", json={"treshold": 1}, headers=admin
    )
    assert unknown.status_code == 422 and "treshold" in unknown.json()["detail"]
    assert (
        live.client.get(f"/api/v1/alerts/rules/{rule_id}", headers=admin).json()["threshold"] == 8
    )
    assert live.client.delete(f"/api/v1/alerts/rules/{rule_id}", headers=admin).status_code == 204
    assert live.client.get(f"/api/v1/alerts/rules/{rule_id}", headers=admin).status_code == 404


def test_reads_need_a_session_and_agents_are_refused(live: LiveServer) -> None:
    assert live.client.get("/api/v1/alerts").status_code == 401
    agent = {"Authorization": f"Bearer {live.agent_key}"}
    assert live.client.get("/api/v1/alerts", headers=agent).status_code == 403
    rule = {"name": "n", "signal": "cpu_percent", "op": ">", "threshold": 1}
    assert live.client.post("/api/v1/alerts/rules", json=rule, headers=agent).status_code == 403


def test_silences_have_an_end_and_a_reason(live: LiveServer) -> None:
    admin = live.user_headers()
    body = {"host_pattern": "db-*", "ends_at": "2099-01-01T00:00:00Z", "reason": "migration"}
    created = live.client.post("/api/v1/silences", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == "admin"
    missing = live.client.post("/api/v1/silences", json={"ends_at": body["ends_at"]}, headers=admin)
    assert missing.status_code == 422 and "reason" in missing.text
    past = {**body, "ends_at": "2000-01-01T00:00:00Z"}
    assert live.client.post("/api/v1/silences", json=past, headers=admin).status_code == 422
    listed = live.client.get("/api/v1/silences", headers=admin).json()
    assert [s["reason"] for s in listed] == ["migration"]
    sid = created.json()["id"]
    assert live.client.delete(f"/api/v1/silences/{sid}", headers=admin).status_code == 204
    assert live.client.get("/api/v1/silences", headers=admin).json() == []
    ended = live.client.get("/api/v1/silences?include_ended=true", headers=admin).json()
    assert [s["id"] for s in ended] == [sid]


def test_channels_mask_secrets_and_test_send_reaches_webhook_and_smtp(live: LiveServer) -> None:
    admin = live.user_headers()
    with WebhookSink() as hook, SmtpSink() as smtp:
        made = live.client.post(
            "/api/v1/alerts/channels",
            json={"name": "hook", "kind": "webhook", "config": {"url": hook.url}},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        mail = live.client.post(
            "/api/v1/alerts/channels",
            json={
                "name": "mail",
                "kind": "email",
                "config": {
                    "to": ["ops@example.org"],
                    "sender": "fleetscope@example.org",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.port,
                    "password": "s3cret",
                    "username": None,
                },
            },
            headers=admin,
        )
        assert mail.status_code == 201, mail.text
        assert mail.json()["config"]["password"] == "***"
        for channel in (made.json(), mail.json()):
            sent = live.client.post(f"/api/v1/alerts/channels/{channel['id']}/test", headers=admin)
            assert sent.json() == {"sent": True, "error": None}
        assert hook.bodies()[0]["alerts"][0]["labels"]["alertname"] == "fleetscope test"
        assert hook.received[0][0]["Idempotency-Key"]
        assert smtp.messages[0]["Subject"].startswith("[RESOLVED:1] fleetscope test")
    bad = live.client.post(
        "/api/v1/alerts/channels",
        json={"name": "x", "kind": "webhook", "config": {"url": "ftp://nope"}},
        headers=admin,
    )
    assert bad.status_code == 422 and "config.url" in bad.json()["detail"]
    down = live.client.post(
        "/api/v1/alerts/channels",
        json={"name": "down", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/x"}},
        headers=admin,
    ).json()
    failed = live.client.post(f"/api/v1/alerts/channels/{down['id']}/test", headers=admin).json()
    assert failed["sent"] is False and "ConnectError" in failed["error"]


def test_apprise_channel_delivers_through_its_json_service(live: LiveServer) -> None:
    admin = live.user_headers()
    with WebhookSink() as hook:
        url = hook.url.replace("http://", "json://")
        made = live.client.post(
            "/api/v1/alerts/channels",
            json={"name": "apprise", "kind": "apprise", "config": {"urls": [url]}},
            headers=admin,
        ).json()
        sent = live.client.post(f"/api/v1/alerts/channels/{made['id']}/test", headers=admin)
        assert sent.json() == {"sent": True, "error": None}
        assert hook.bodies()[0]["title"].startswith("[RESOLVED:1] fleetscope test")


def test_current_alerts_and_history_per_host(live: LiveServer) -> None:
    admin = live.user_headers()
    rule = {"name": "hot", "signal": "cpu_percent", "op": ">", "threshold": 5}
    assert live.client.post("/api/v1/alerts/rules", json=rule, headers=admin).status_code == 201
    sent = live.client.post(
        "/api/v1/ingest", content=payload_json(payload(2)), headers=live.agent_headers()
    )
    assert sent.status_code == 202
    live.wait_digested()
    AlertEvaluator(live.server.engine, holder="test").run_once()
    alerts = live.client.get("/api/v1/alerts", headers=admin).json()
    # The samples are from T0, long ago, but silence counts only from when evaluation began.
    assert [(a["rule_name"], a["host_name"], a["state"]) for a in alerts] == [
        ("hot", "web-1", "firing")
    ]
    host_id = alerts[0]["host_id"]
    mine = live.client.get(f"/api/v1/alerts?host_id={host_id}&state=firing", headers=admin).json()
    assert len(mine) == 1
    assert live.client.get(f"/api/v1/alerts?host_id={host_id + 1}", headers=admin).json() == []
    history = live.client.get(f"/api/v1/alerts/history?host_id={host_id}", headers=admin).json()
    assert [h["state"] for h in history] == ["firing"]
    wrong = live.client.get("/api/v1/alerts?state=burning", headers=admin)
    assert wrong.status_code == 422 and "burning" in wrong.json()["detail"]
