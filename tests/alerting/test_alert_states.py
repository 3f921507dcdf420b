"""The pure parts of alerting: the state machine, the signals and the messages."""

from __future__ import annotations

import json
import math

import pytest

from fleetscope.alerting.evaluate import AlertState, step
from fleetscope.alerting.messages import (
    ZERO_TIME,
    AlertGroup,
    AlertItem,
    idempotency_key,
    text_of,
    webhook_body,
)
from fleetscope.alerting.signals import HostView, LayoutPlan, Reading, Snapshot, read_signal
from fleetscope.model.alerts import (
    BadRule,
    Rule,
    RuleSpec,
    check_rule,
    compare,
    parse_channel_config,
)

CPU = RuleSpec("CPU", "cpu_percent", ">", 90.0, for_seconds=300, repeat_seconds=3600)
S = 1000


def run(spec: RuleSpec, readings: list[tuple[int, float | None]], silenced: set[int] = set()):  # noqa: B006
    state = None
    seen = []
    for at, value in readings:
        out = step(spec, Reading(value), state, at * S, at in silenced)
        state = out.state
        seen.append((at, out.state.state, out.notify))
    return seen


def test_pending_then_firing_after_for_then_resolved_once() -> None:
    seen = run(CPU, [(0, 95), (100, 96), (299, 97), (300, 98), (400, 99), (500, 50), (600, 40)])
    assert seen == [
        (0, "pending", None),
        (100, "pending", None),
        (299, "pending", None),
        (300, "firing", "firing"),
        (400, "firing", None),
        (500, "resolved", "resolved"),
        (600, "resolved", None),
    ]


def test_firing_repeats_after_repeat_seconds() -> None:
    spec = RuleSpec("CPU", "cpu_percent", ">", 90.0, 0, repeat_seconds=60)
    notices = [n for _, _, n in run(spec, [(t, 95) for t in range(0, 200, 10)])]
    assert [i * 10 for i, n in enumerate(notices) if n] == [0, 60, 120, 180]


def test_condition_gone_while_pending_is_quiet() -> None:
    assert run(CPU, [(0, 95), (100, 10)]) == [(0, "pending", None), (100, "inactive", None)]


def test_no_data_keeps_the_state() -> None:
    seen = run(CPU, [(0, 95), (300, 95), (400, None), (500, None)])
    assert [s for _, s, _ in seen] == ["pending", "firing", "firing", "firing"]
    assert [n for _, _, n in seen] == [None, "firing", None, None]


def test_silence_defers_firing_and_a_silenced_resolution_is_not_announced() -> None:
    spec = RuleSpec("CPU", "cpu_percent", ">", 90.0, 0)
    seen = run(spec, [(0, 95), (10, 95), (20, 95), (30, 10)], silenced={0, 10})
    assert [n for _, _, n in seen] == [None, None, "firing", "resolved"]
    quiet = run(spec, [(0, 95), (10, 10)], silenced={0, 10})
    assert [n for _, _, n in quiet] == [None, None]


def test_state_keeps_since_and_active_times() -> None:
    a = step(CPU, Reading(95), None, 1_000, False).state
    b = step(CPU, Reading(95), a, 301_000, False).state
    assert (a.state, a.since_ms, a.active_ms) == ("pending", 1_000, 1_000)
    assert (b.state, b.since_ms, b.active_ms, b.notified_ms) == ("firing", 301_000, 1_000, 301_000)
    c = step(CPU, Reading(10), b, 400_000, False)
    assert c.changed and c.state.state == "resolved" and c.state.notified_ms is None


def test_nan_never_meets_a_condition() -> None:
    assert not compare(math.nan, "!=", 1.0)
    assert compare(0.0, "==", 0.0)


def _view(keys: list[str], values: list[float], ts: int = 0, **kw: object) -> HostView:
    return HostView(1, 1, "web-1", ts, Snapshot(ts, LayoutPlan.of(keys), values), **kw)  # type: ignore[arg-type]


FS = [
    'filesystem_used_bytes{device="a",fstype="ext4",mountpoint="/"}',
    'filesystem_avail_bytes{device="a",fstype="ext4",mountpoint="/"}',
    'filesystem_used_bytes{device="b",fstype="ext4",mountpoint="/data"}',
    'filesystem_avail_bytes{device="b",fstype="ext4",mountpoint="/data"}',
    'filesystem_readonly{device="b",fstype="ext4",mountpoint="/data"}',
]


def test_filesystem_used_is_the_fullest_writable() -> None:
    view = _view(FS, [50, 50, 99, 1, 1.0])  # /data is fuller but read-only
    reading = read_signal(RuleSpec("fs", "filesystem_used_percent", ">", 90), view, 0, "{}")
    assert reading == Reading(50.0, {"mountpoint": "/"})


def test_hours_to_full_from_growth_over_the_window() -> None:
    hour = 3_600_000
    older = Snapshot(0, LayoutPlan.of(FS), [40, 60, 10, 90, 0.0])
    view = _view(FS, [50, 50, 10, 90, 0.0], ts=2 * hour, older=older)
    spec = RuleSpec("ff", "filesystem_hours_to_full", "<", 24)
    reading = read_signal(spec, view, 2 * hour, "{}")
    assert reading.value == pytest.approx(10.0)  # 5 bytes/h growth, 50 left
    assert reading.detail == {"mountpoint": "/"}
    assert read_signal(spec, _view(FS, [50, 50, 10, 90, 0.0]), 0, "{}").value is None


def test_exporter_targets_down_and_series_max() -> None:
    keys = [
        'exporter_scrape_success{exporter="pg"}',
        'exporter_scrape_success{exporter="nginx"}',
        'disk_utilization_percent{device="sda"}',
        'disk_utilization_percent{device="sdb"}',
    ]
    view = _view(keys, [0.0, 1.0, 30.0, 70.0])
    down = read_signal(RuleSpec("x", "exporter_targets_down", ">", 0), view, 0, "{}")
    assert down == Reading(1.0, {"targets": "pg"})
    spec = RuleSpec(
        "d", "disk_utilization_percent", ">", 50, params={"labels": '{"device": "sda"}'}
    )
    assert read_signal(spec, view, 0, "{}").value == 30.0
    spec_all = RuleSpec("d", "disk_utilization_percent", ">", 50)
    assert read_signal(spec_all, view, 0, "{}") == Reading(70.0, {"device": "sdb"})


def test_host_silent_needs_no_snapshot() -> None:
    view = HostView(1, 1, "web-1", last_seen_ms=10_000)
    spec = RuleSpec("s", "host_silent_seconds", ">", 120)
    assert read_signal(spec, view, 190_000, "{}").value == 180.0


def test_process_groups_gone_remembers_and_forgets() -> None:
    spec = RuleSpec("g", "process_groups_gone", ">", 0, params={"forget_seconds": "7200"})
    hour = 3_600_000
    first = read_signal(spec, HostView(1, 1, "h", 0, groups=frozenset({"nginx", "pg"})), 0, "{}")
    assert first.value == 0.0
    detail = json.dumps(first.detail)
    gone = read_signal(spec, HostView(1, 1, "h", 0, groups=frozenset({"pg"})), hour, detail)
    assert gone.value == 1.0 and gone.detail["groups"] == "nginx"
    later = read_signal(
        spec, HostView(1, 1, "h", 0, groups=frozenset({"pg"})), 3 * hour, json.dumps(gone.detail)
    )
    assert later.value == 0.0  # gone longer than forget_seconds: forgotten
    assert read_signal(spec, HostView(1, 1, "h", 0), hour, detail).value is None  # no process data


def _group(status: str = "firing") -> AlertGroup:
    rule = Rule(7, 1, RuleSpec("CPU above 90 %", "cpu_percent", ">", 90.0, severity="critical"))
    items = (
        AlertItem(1, "web-1", 95.5, {}, 1_000, None if status == "firing" else 9_000),
        AlertItem(
            2, "web-2", 97.0, {"mountpoint": "/"}, 2_000, None if status == "firing" else 9_000
        ),
    )
    return AlertGroup(rule, status, items)  # type: ignore[arg-type]


def test_webhook_body_is_alertmanager_version_4_with_one_message_for_the_group() -> None:
    body = webhook_body(_group(), "ops", "http://fleet.example")
    assert {
        "version",
        "groupKey",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
        "truncatedAlerts",
    } <= set(body)
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "ops"
    assert [a["labels"]["host"] for a in body["alerts"]] == ["web-1", "web-2"]
    first = body["alerts"][0]
    assert first["startsAt"] == "1970-01-01T00:00:01Z" and first["endsAt"] == ZERO_TIME
    assert first["labels"]["alertname"] == "CPU above 90 %"
    assert first["generatorURL"] == "http://fleet.example/hosts/1"
    assert len(first["fingerprint"]) == 16
    resolved = webhook_body(_group("resolved"), "ops", "")
    assert resolved["alerts"][1]["endsAt"] == "1970-01-01T00:00:09Z"
    subject, text = text_of(body)
    assert subject == "[FIRING:2] CPU above 90 % (web-1, web-2)"
    assert "web-2: cpu_percent = 97 (> 90, mountpoint=/)" in text


def test_idempotency_key_depends_on_channel_and_round() -> None:
    group = _group()
    assert idempotency_key(1, group, 5) == idempotency_key(1, group, 5)
    assert (
        len(
            {
                idempotency_key(1, group, 5),
                idempotency_key(2, group, 5),
                idempotency_key(1, group, 6),
            }
        )
        == 3
    )


def test_bad_rules_and_channel_configs_name_the_field() -> None:
    with pytest.raises(BadRule, match="op"):
        check_rule(RuleSpec("x", "cpu_percent", "=>", 1))  # type: ignore[arg-type]
    with pytest.raises(BadRule, match="window_seconds"):
        check_rule(
            RuleSpec("x", "filesystem_hours_to_full", "<", 1, params={"window_seconds": "5"})
        )
    with pytest.raises(BadRule, match="repeat_seconds"):
        check_rule(RuleSpec("x", "cpu_percent", ">", 1, repeat_seconds=10**17))
    with pytest.raises(BadRule, match="url"):
        parse_channel_config("webhook", '{"url": "ftp://x"}')
    with pytest.raises(BadRule, match="smtp_host"):
        parse_channel_config("email", '{"to": ["a@b"], "sender": "f@b"}')
    with pytest.raises(BadRule, match="kind"):
        parse_channel_config("pager", "{}")


def test_the_initial_state_is_inactive() -> None:
    assert AlertState("inactive", 0).notified_ms is None
