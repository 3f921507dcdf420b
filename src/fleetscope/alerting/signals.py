"""A rule's signal value for one host, from the host's latest snapshot (and, for the
forecast, an older one). Pure: the values come in as arrays in a layout's order, NaN absent."""

from __future__ import annotations

import fnmatch
import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fleetscope.model.alerts import RuleSpec
from fleetscope.model.series import split_series_key

_READONLY = "filesystem_readonly"
DEFAULT_FORECAST_WINDOW_S = 6 * 3600
DEFAULT_FORGET_GROUP_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class Mount:
    mountpoint: str
    used: int
    avail: int
    readonly: int | None


@dataclass(frozen=True, slots=True)
class LayoutPlan:
    """Where each signal's inputs sit in one layout, worked out once per layout."""

    keys: tuple[str, ...]
    index: Mapping[str, int]
    mounts: tuple[Mount, ...]
    by_name: Mapping[str, tuple[tuple[dict[str, str], int], ...]]

    @staticmethod
    def of(keys: Sequence[str]) -> LayoutPlan:
        by_name: dict[str, list[tuple[dict[str, str], int]]] = {}
        mounts: dict[str, dict[str, int]] = {}
        for i, key in enumerate(keys):
            name, labels = split_series_key(key)
            by_name.setdefault(name, []).append((labels, i))
            if name.startswith("filesystem_") and "mountpoint" in labels:
                mounts.setdefault(labels["mountpoint"], {})[name] = i
        return LayoutPlan(
            tuple(keys),
            {key: i for i, key in enumerate(keys)},
            tuple(
                Mount(
                    point, m["filesystem_used_bytes"], m["filesystem_avail_bytes"], m.get(_READONLY)
                )
                for point, m in mounts.items()
                if "filesystem_used_bytes" in m and "filesystem_avail_bytes" in m
            ),
            {name: tuple(found) for name, found in by_name.items()},
        )

    def at(self, values: Sequence[float], key: str) -> float | None:
        i = self.index.get(key)
        if i is None:
            return None
        value = values[i]
        return None if math.isnan(value) else value

    def writable(self, values: Sequence[float]) -> dict[str, tuple[float, float]]:
        """mountpoint -> (used, avail) bytes of the writable filesystems with both known."""
        out = {}
        for m in self.mounts:
            used, avail = values[m.used], values[m.avail]
            if used + avail > 0 and (m.readonly is None or values[m.readonly] != 1.0):
                out[m.mountpoint] = (used, avail)
        return out


@dataclass(frozen=True, slots=True)
class Snapshot:
    ts_ms: int
    plan: LayoutPlan
    values: Sequence[float]


@dataclass(frozen=True, slots=True)
class HostView:
    """What the evaluator knows of one host this round."""

    host_id: int
    tenant_id: int
    name: str
    last_seen_ms: int
    latest: Snapshot | None = None
    older: Snapshot | None = None  # about the forecast window ago, when a rule needs it
    groups: frozenset[str] | None = None  # process groups in the latest process snapshot
    watching_since_ms: int | None = None  # when this evaluator began (see _silent)


@dataclass(frozen=True, slots=True)
class Reading:
    value: float | None  # None: no data, the state stays as it was
    detail: dict[str, str] = field(default_factory=dict)


def read_signal(rule: RuleSpec, host: HostView, now_ms: int, previous_detail: str) -> Reading:
    if rule.signal == "host_silent_seconds":
        return _silent(rule, host, now_ms)
    if rule.signal == "process_groups_gone":
        return _groups_gone(rule, host, now_ms, previous_detail)
    if host.latest is None:
        return Reading(None)
    if rule.signal == "filesystem_hours_to_full":
        return _hours_to_full(host.latest, host.older)
    of_snapshot = _OF_SNAPSHOT.get(rule.signal)
    if of_snapshot is None:
        return _series_max(rule, host.latest)
    return of_snapshot(host.latest.plan, host.latest.values)


def _cpu(plan: LayoutPlan, values: Sequence[float]) -> Reading:
    return Reading(plan.at(values, "cpu_utilization_percent"))


def _memory_available(plan: LayoutPlan, values: Sequence[float]) -> Reading:
    avail = plan.at(values, "memory_available_bytes")
    total = plan.at(values, "memory_total_bytes")
    return Reading(100.0 * avail / total if avail is not None and total else None)


def _filesystem_used(plan: LayoutPlan, values: Sequence[float]) -> Reading:
    usage = {m: 100.0 * u / (u + a) for m, (u, a) in plan.writable(values).items()}
    if not usage:
        return Reading(None)
    fullest = max(usage, key=usage.__getitem__)
    return Reading(usage[fullest], {"mountpoint": fullest})


def _exporters_down(plan: LayoutPlan, values: Sequence[float]) -> Reading:
    down = [
        labels.get("exporter", "?")
        for labels, i in plan.by_name.get("exporter_scrape_success", ())
        if values[i] == 0.0
    ]
    return Reading(float(len(down)), {"targets": ",".join(sorted(down))} if down else {})


_OF_SNAPSHOT: dict[str, Callable[[LayoutPlan, Sequence[float]], Reading]] = {
    "cpu_percent": _cpu,
    "memory_available_percent": _memory_available,
    "filesystem_used_percent": _filesystem_used,
    "exporter_targets_down": _exporters_down,
}


def _silent(rule: RuleSpec, host: HostView, now_ms: int) -> Reading:
    """A host not heard from since before this evaluator began is unknown (the state stays)
    until the evaluator has itself watched longer than the threshold: after a server restart
    every host's last report is as old as the outage, which is not the hosts' silence."""
    silent_s = max(0.0, (now_ms - host.last_seen_ms) / 1000)
    since = host.watching_since_ms
    if (
        since is not None
        and host.last_seen_ms < since
        and (now_ms - since) / 1000 <= rule.threshold
    ):
        return Reading(None)
    return Reading(silent_s)


def _series_max(rule: RuleSpec, latest: Snapshot) -> Reading:
    """Any other signal is a series name: its largest value over the label sets that match
    params.labels (a JSON object of label -> glob)."""
    wanted: dict[str, str] = json.loads(rule.params.get("labels", "{}"))
    best: float | None = None
    best_labels: dict[str, str] = {}
    for labels, i in latest.plan.by_name.get(rule.signal, ()):
        value = latest.values[i]
        if math.isnan(value):
            continue
        if all(fnmatch.fnmatchcase(labels.get(k, ""), g) for k, g in wanted.items()) and (
            best is None or value > best
        ):
            best, best_labels = value, labels
    return Reading(best, best_labels)


def _hours_to_full(latest: Snapshot, older: Snapshot | None) -> Reading:
    """Linear growth between the older and the latest snapshot, per filesystem (the two-point
    form of Prometheus' predict_linear: one older frame per host keeps a round cheap)."""
    if older is None or older.ts_ms >= latest.ts_ms:
        return Reading(None)
    then = older.plan.writable(older.values)
    hours = (latest.ts_ms - older.ts_ms) / 3_600_000
    soonest: tuple[float, str] | None = None
    for mount, (used, avail) in latest.plan.writable(latest.values).items():
        if mount not in then:
            continue
        growth = (used - then[mount][0]) / hours  # bytes per hour
        if growth <= 0:
            continue
        left = avail / growth
        if soonest is None or left < soonest[0]:
            soonest = (left, mount)
    if soonest is None:
        return Reading(None)
    return Reading(soonest[0], {"mountpoint": soonest[1]})


@functools.lru_cache(maxsize=4096)
def _known_groups(detail: str) -> dict[str, int]:
    """Hosts of one role share their groups, so their details are the same few strings:
    parsed once, not once per host per round. The caller copies before changing it."""
    previous = json.loads(detail or "{}")
    return {g: int(t) for g, t in json.loads(previous.get("known", "{}")).items()}


def _groups_gone(rule: RuleSpec, host: HostView, now_ms: int, previous_detail: str) -> Reading:
    """Groups are remembered with the time they were last seen (in the state's detail);
    a group missing longer than params.forget_seconds (default a day) is forgotten."""
    if host.groups is None:
        return Reading(None)
    pattern = rule.params.get("groups", "*")
    forget_ms = int(rule.params.get("forget_seconds", DEFAULT_FORGET_GROUP_S)) * 1000
    known = {g: t for g, t in _known_groups(previous_detail).items() if now_ms - t <= forget_ms}
    # Last seen to the hour: the state row is then rewritten once an hour, not every round.
    seen_ms = now_ms - now_ms % 3_600_000
    for group in host.groups:
        if fnmatch.fnmatchcase(group, pattern):
            known[group] = seen_ms
    gone = sorted(g for g in known if g not in host.groups)
    detail = {"known": json.dumps(known, sort_keys=True)}
    if gone:
        detail["groups"] = ",".join(gone)
    return Reading(float(len(gone)), detail)
