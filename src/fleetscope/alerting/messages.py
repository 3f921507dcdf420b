"""Messages: the alerts owed in one evaluation round, grouped per (rule, firing|resolved) so
that hosts firing together make one message per channel, in Alertmanager's webhook format
(version 4), which existing receivers take as is; e-mail and apprise get a text rendering of
the same group. Pure."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fleetscope.alerting.evaluate import Notice
from fleetscope.model.alerts import Rule, RuleSpec

# Alertmanager's "no end time" (Go's zero time).
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class AlertItem:
    host_id: int
    host_name: str
    value: float | None
    detail: dict[str, str]
    starts_ms: int
    ends_ms: int | None  # set when resolved


@dataclass(frozen=True, slots=True)
class AlertGroup:
    rule: Rule
    status: Notice
    alerts: tuple[AlertItem, ...]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _labels(rule: Rule, item: AlertItem) -> dict[str, str]:
    return {
        "alertname": rule.spec.name,
        "severity": rule.spec.severity,
        "host": item.host_name,
        "instance": item.host_name,
        "rule_id": str(rule.id),
    }


def fingerprint(labels: dict[str, str]) -> str:
    text = "\x00".join(f"{k}\x00{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def summary(rule: Rule, item: AlertItem) -> str:
    value = "no value" if item.value is None else f"{item.value:.4g}"
    spec = rule.spec
    extra = "".join(f", {k}={v}" for k, v in sorted(item.detail.items()) if k != "known")
    return f"{item.host_name}: {spec.signal} = {value} ({spec.op} {spec.threshold:g}{extra})"


def webhook_body(group: AlertGroup, receiver: str, external_url: str) -> dict[str, Any]:
    rule = group.rule
    alerts = []
    for item in group.alerts:
        labels = _labels(rule, item)
        annotations = {"summary": summary(rule, item)}
        if item.value is not None:
            annotations["value"] = f"{item.value:.6g}"
        annotations.update({k: v for k, v in item.detail.items() if k != "known"})
        alerts.append(
            {
                "status": group.status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": iso(item.starts_ms),
                "endsAt": ZERO_TIME if item.ends_ms is None else iso(item.ends_ms),
                "generatorURL": f"{external_url}/hosts/{item.host_id}",
                "fingerprint": fingerprint(labels),
            }
        )
    common = {"alertname": rule.spec.name, "severity": rule.spec.severity, "rule_id": str(rule.id)}
    return {
        "version": "4",
        "groupKey": json.dumps({"alertname": rule.spec.name, "rule_id": rule.id}),
        "truncatedAlerts": 0,
        "status": group.status,
        "receiver": receiver,
        "groupLabels": {"alertname": rule.spec.name},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": external_url,
        "alerts": alerts,
    }


def text_of(body: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of a webhook body, for e-mail and apprise."""
    alerts = body["alerts"]
    hosts = ", ".join(a["labels"]["host"] for a in alerts)
    status = str(body["status"]).upper()
    subject = f"[{status}:{len(alerts)}] {body['groupLabels']['alertname']} ({hosts})"
    lines = [subject, ""]
    for a in alerts:
        lines.append(f"- {a['annotations']['summary']}")
        lines.append(
            f"  since {a['startsAt']}"
            + ("" if a["endsAt"] == ZERO_TIME else f", ended {a['endsAt']}")
        )
    return subject, "\n".join(lines) + "\n"


def idempotency_key(channel_id: int, group: AlertGroup, now_ms: int) -> str:
    hosts = ",".join(str(a.host_id) for a in sorted(group.alerts, key=lambda a: a.host_id))
    text = f"{channel_id}|{group.rule.id}|{group.status}|{now_ms}|{hosts}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def test_body(receiver: str, external_url: str, now_ms: int) -> dict[str, Any]:
    """The test-send message: one alert named "fleetscope test", already resolved, so a
    receiver that pages on firing alerts does not page."""
    rule = Rule(0, 0, RuleSpec("fleetscope test", "test", ">", 0.0, severity="none"))
    item = AlertItem(0, "fleetscope", None, {"note": "a test of this channel"}, now_ms, now_ms)
    return webhook_body(AlertGroup(rule, "resolved", (item,)), receiver, external_url)
