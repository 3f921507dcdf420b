"""What the evaluator reads of the store each round: every host's last-seen time and the
frame of its latest snapshot (one primary-key lookup per host, joined on hosts.last_seen_ms),
plus, only when a rule asks for them, an older frame per host (the forecast) and the process
groups of the latest process snapshot."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, select, text

from fleetscope.alerting.signals import HostView, LayoutPlan, Snapshot
from fleetscope.store.chunks import CHUNK_SPAN_MS, chunk_times, decode_chunk, lookback
from fleetscope.store.tables import hosts, metric_layouts

_MAX_PLANS = 4096

# A row holds the snapshots of up to CHUNK_SPAN_MS from its ts_ms (store/chunks.py): the
# latest snapshot is in one of the rows that start in the span before it.
_LATEST = text(
    "SELECT h.id, h.name, h.last_seen_ms, f.ts_ms, f.layout_id, f.vals FROM hosts h"
    " LEFT JOIN metric_frames f ON f.host_id = h.id AND f.ts_ms <= h.last_seen_ms"
    " AND f.ts_ms > h.last_seen_ms - :span"
    " WHERE h.tenant_id = :tenant ORDER BY h.id, f.ts_ms"
)
_OLDER_BEFORE = text(
    "SELECT ts_ms, layout_id, vals FROM metric_frames WHERE host_id = :host"
    " AND ts_ms >= :lookback AND ts_ms < :since ORDER BY ts_ms"
)
_OLDER = text(
    "SELECT ts_ms, layout_id, vals FROM metric_frames WHERE host_id = :host AND ts_ms >= :since"
    " ORDER BY ts_ms LIMIT 1"
)
_GROUPS = text(
    "SELECT p.host_id, p.group_name FROM process_groups p JOIN"
    " (SELECT host_id, MAX(ts_ms) AS ts FROM process_groups"
    "  WHERE tenant_id = :tenant AND ts_ms >= :since GROUP BY host_id) l"
    " ON p.host_id = l.host_id AND p.ts_ms = l.ts"
)


# The forecast's older frame moves by one snapshot every round; re-reading it per host every
# round cost a query per host, a large share of a round (docs/code-choices.md), and a growth
# rate over 6 h hardly changes in 5 min.
OLDER_REFRESH_MS = 5 * 60_000


class Layouts:
    """LayoutPlan per layout id (a layout never changes once written, so it is kept), and
    each host's older frame for the forecast, re-read every OLDER_REFRESH_MS."""

    def __init__(self) -> None:
        self._plans: dict[int, LayoutPlan] = {}
        self.older: dict[int, tuple[int, Snapshot | None]] = {}

    def plans(self, conn: Connection, ids: Iterable[int]) -> dict[int, LayoutPlan]:
        missing = {i for i in ids if i not in self._plans}
        if missing:
            if len(self._plans) + len(missing) > _MAX_PLANS:
                self._plans.clear()
            rows = conn.execute(
                select(metric_layouts.c.id, metric_layouts.c.series).where(
                    metric_layouts.c.id.in_(missing)
                )
            )
            for layout_id, series in rows:
                self._plans[layout_id] = LayoutPlan.of(json.loads(series))
        return self._plans


def host_views(
    conn: Connection,
    layouts: Layouts,
    tenant_id: int,
    now_ms: int,
    *,
    older_window_ms: int | None,
    groups_since_ms: int | None,
    watching_since_ms: int | None = None,
) -> list[HostView]:
    rows = conn.execute(_LATEST, {"tenant": tenant_id, "span": CHUNK_SPAN_MS}).all()
    plans = layouts.plans(conn, {r.layout_id for r in rows if r.layout_id is not None})
    groups: dict[int, set[str]] = {}
    if groups_since_ms is not None:
        for host_id, name in conn.execute(_GROUPS, {"tenant": tenant_id, "since": groups_since_ms}):
            groups.setdefault(host_id, set()).add(name)
    views = []
    for r, latest in _latest(rows, plans):
        older = None
        if older_window_ms is not None and latest is not None:
            cached = layouts.older.get(r.id)
            if cached is None or now_ms - cached[0] > OLDER_REFRESH_MS:
                found = _older(conn, layouts, r.id, latest.ts_ms - older_window_ms, latest.ts_ms)
                cached = layouts.older[r.id] = (now_ms, found)
            older = cached[1]
        views.append(
            HostView(
                r.id,
                tenant_id,
                r.name,
                r.last_seen_ms,
                latest,
                older,
                frozenset(groups[r.id]) if r.id in groups else None,
                watching_since_ms,
            )
        )
    return views


def _latest(
    rows: Sequence[Row[Any]], plans: dict[int, LayoutPlan]
) -> list[tuple[Row[Any], Snapshot | None]]:
    """Per host, its first row and its snapshot at last_seen_ms, or None when no row holds
    it. A host whose doors (an agent and a pushed exposition, say) stored rows of different
    layouts at its last-seen time has a snapshot in each: one view, of all of them."""
    out: list[tuple[Row[Any], Snapshot | None]] = []
    for _, group in itertools.groupby(rows, key=lambda r: r.id):
        members = list(group)
        found = [
            Snapshot(r.last_seen_ms, plans[r.layout_id], values)
            for r in members
            if r.vals is not None
            and r.layout_id in plans
            and r.last_seen_ms in chunk_times(r.ts_ms, r.vals)[0]
            for ts, values in decode_chunk(r.ts_ms, r.vals)
            if ts == r.last_seen_ms
        ]
        out.append((members[0], _merged(found) if found else None))
    return out


def _merged(snapshots: list[Snapshot]) -> Snapshot:
    """Snapshots of one instant as one: the layouts' series side by side."""
    if len(snapshots) == 1:
        return snapshots[0]
    keys = [key for s in snapshots for key in s.plan.keys]
    values = [value for s in snapshots for value in s.values]
    return Snapshot(snapshots[0].ts_ms, LayoutPlan.of(keys), values)


def _older(
    conn: Connection, layouts: Layouts, host_id: int, since_ms: int, latest_ms: int
) -> Snapshot | None:
    """The first snapshot inside the window; None unless it covers at least half of it, so a
    host that has just appeared does not extrapolate from a few seconds of growth."""
    candidates = list(
        conn.execute(
            _OLDER_BEFORE, {"host": host_id, "lookback": lookback(since_ms), "since": since_ms}
        )
    )
    first = conn.execute(_OLDER, {"host": host_id, "since": since_ms}).first()
    if first is not None:
        candidates.append(first)
    best: tuple[int, int, Row[Any]] | None = None
    for row in candidates:
        ts = next((t for t in chunk_times(row.ts_ms, row.vals)[0] if t >= since_ms), None)
        if ts is not None and (best is None or ts < best[0]):
            best = (ts, row.layout_id, row)
    if best is None or latest_ms - best[0] < (latest_ms - since_ms) // 2:
        return None
    ts, layout_id, row = best
    plan = layouts.plans(conn, [layout_id]).get(layout_id)
    if plan is None:
        return None
    return Snapshot(ts, plan, dict(decode_chunk(row.ts_ms, row.vals))[ts])


def tenant_ids(conn: Connection) -> list[int]:
    return list(conn.execute(select(hosts.c.tenant_id).distinct()).scalars())
