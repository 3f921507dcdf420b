"""The state machine of one (rule, host): reading + previous state -> new state and the
notification it owes. Pure, so every transition is tested without a database or a clock.

inactive/resolved --condition--> pending --held for_seconds--> firing --condition gone--> resolved
pending --condition gone--> inactive. A rule with for_seconds 0 goes straight to firing.
No data (a host that stopped sending) leaves the state as it was: absence is its own rule
(host_silent_seconds), and resolving on missing data would announce a recovery nobody saw.

A firing alert is owed a notification when it has none yet (notified_ms None) or the last is
repeat_seconds old; a silence defers it (it is sent when the silence ends, if still firing).
Resolution is announced only when the firing was, so a silenced alert stays quiet throughout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from fleetscope.alerting.signals import Reading
from fleetscope.model.alerts import RuleSpec, State, compare

Notice = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class AlertState:
    state: State
    since_ms: int
    active_ms: int | None = None
    value: float | None = None
    detail: str = "{}"
    notified_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    state: AlertState
    changed: bool  # the state's name changed: one history row
    notify: Notice | None


def step(
    rule: RuleSpec, reading: Reading, previous: AlertState | None, now_ms: int, silenced: bool
) -> Outcome:
    prev = previous or AlertState("inactive", now_ms)
    name: State = prev.state
    active = prev.active_ms
    notified = prev.notified_ms
    if reading.value is not None:
        holds = compare(reading.value, rule.op, rule.threshold)
        if holds and name in {"inactive", "resolved"}:
            active = now_ms
            name = "firing" if rule.for_seconds == 0 else "pending"
        elif holds and name == "pending":
            assert active is not None
            if now_ms - active >= rule.for_seconds * 1000:
                name = "firing"
        elif not holds and name == "pending":
            name, active = "inactive", None
        elif not holds and name == "firing":
            name = "resolved"
    notify: Notice | None = None
    if name == "firing":
        if prev.state != "firing":
            notified = None
        due = notified is None or now_ms - notified >= rule.repeat_seconds * 1000
        if due and not silenced:
            notify, notified = "firing", now_ms
    elif name == "resolved" and prev.state == "firing":
        if notified is not None and not silenced:
            notify = "resolved"
        notified = None
    state = AlertState(
        name,
        prev.since_ms if name == prev.state and previous is not None else now_ms,
        active
        if name in {"pending", "firing"}
        else (prev.active_ms if name == "resolved" else None),
        reading.value if reading.value is not None else prev.value,
        json.dumps(reading.detail, sort_keys=True) if reading.value is not None else prev.detail,
        notified,
    )
    return Outcome(state, name != prev.state, notify)
