"""The fleet at a glance, for the dashboard's overview, the summary report and the host page:
each host's status and headline values (CPU, memory, fullest filesystem, network), and a host's
latest values grouped by section. FleetQueries reads; the rules are apart:
* query/status.py: live, stale or offline, from the age of the last sample;
* query/headline.py: the four headline numbers of a frame (names in model/headline.py);
* query/sparkline.py: each host's window of recent frames, kept between overviews;
* query/summary.py and query/averages.py: the summary over the rollup tiers;
* query/sections.py: the host page's cards.

Latest values cost one index probe per host (a correlated max(ts_ms) over the (host_id, ts_ms)
primary key), never a GROUP BY over all frames (docs/dashboard.md). The overview keeps each
host's last SPARK_WINDOW_MS of frames and reads only frames newer than what it holds (minus
SLACK_MS, for batches committed out of order)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select

from fleetscope.query.averages import FleetSummary, HostAverage
from fleetscope.query.headline import Headline, HeadlinePlan, merge
from fleetscope.query.layouts import Layouts, chunks
from fleetscope.query.sections import Section, place
from fleetscope.query.sparkline import SPARK_WINDOW_MS, HostWindow, RowRef, Windows
from fleetscope.query.status import DEFAULT_INTERVAL_MS, Status, interval_ms, status_of
from fleetscope.query.summary import REVALIDATE_MS, Summaries
from fleetscope.store.chunks import chunk_times, decode_chunk, lookback
from fleetscope.store.engine import datetime_of_ms
from fleetscope.store.frames import value_or_none
from fleetscope.store.tables import hosts, metric_frames

# Callers import these from here: the fleet's answers and the rules they come from.
__all__ = [
    "FleetHost",
    "FleetQueries",
    "FleetSummary",
    "Headline",
    "HeadlinePlan",
    "HostAverage",
    "HostDetail",
    "Section",
    "Status",
    "status_of",
]

# Frames of one host can commit out of time order by this much (batches of several
# snapshots, several digest workers) and still be read by the next overview.
SLACK_MS = 30_000
# Frames the host page reads, newest first: the newest instant's (one per layout) give its
# values, all of them its interval.
_RECENT_FRAMES = 8


@dataclass(frozen=True, slots=True)
class FleetHost:
    id: int
    name: str
    machine_id: str
    agent_version: str | None
    last_seen: datetime
    status: Status
    interval_seconds: float
    latest: Headline | None
    spark: list[tuple[float, Headline]] = field(default_factory=list)  # (unix seconds, values)


@dataclass(frozen=True, slots=True)
class HostDetail:
    id: int
    name: str
    machine_id: str
    agent_version: str | None
    first_seen: datetime
    last_seen: datetime
    status: Status
    interval_seconds: float
    sampled_at: datetime | None
    sections: dict[str, Section]  # only sections the host has data for
    latest: Headline | None  # the newest instant's headline, as the overview shows it


_HOST_COLUMNS = (
    hosts.c.id,
    hosts.c.name,
    hosts.c.machine_id,
    hosts.c.agent_version,
    hosts.c.last_seen_ms,
)


class FleetQueries:
    """Safe to share between request threads: the caches are guarded by locks."""

    def __init__(self, engine: Engine, revalidate_ms: int = REVALIDATE_MS) -> None:
        self.engine = engine
        self.layouts = Layouts()
        self._windows = Windows()
        self._summaries = Summaries(engine, self.layouts, self._windows, revalidate_ms)

    def overview(self, tenant_id: int, now_ms: int) -> list[FleetHost]:
        """Every host with status, latest headline and the last SPARK_WINDOW_MS of headlines.
        Per host one probe for its newest ts_ms, then one statement for the frames newer than
        what the cache holds, both on the (host_id, ts_ms) primary key (module doc)."""
        newest = (
            select(func.max(metric_frames.c.ts_ms))
            .where(metric_frames.c.host_id == hosts.c.id)
            .scalar_subquery()
        )
        latest = (
            select(*_HOST_COLUMNS, newest.label("newest_ms"))
            .where(hosts.c.tenant_id == tenant_id)
            .subquery()
        )
        with self._windows.lock, self.engine.connect() as conn:
            host_rows = conn.execute(select(latest).order_by(latest.c.name, latest.c.id)).all()
            self._refresh_windows(conn, host_rows)
            out = [self._fleet_host(row, now_ms) for row in host_rows]
        return out

    def _refresh_windows(self, conn: Connection, host_rows: Sequence[Row[Any]]) -> None:
        windows = self._windows.by_host
        behind = [
            r
            for r in host_rows
            if r.newest_ms is not None
            and (r.id not in windows or windows[r.id].known_ms < r.newest_ms)
        ]
        if not behind:
            return
        # Per host: what is newer than the cache holds (less SLACK_MS), within its window.
        # Hosts whose floors are close share a statement on the (host_id, ts_ms) key.
        groups: dict[int, list[tuple[int, int]]] = {}
        for row in behind:
            floor = row.newest_ms - SPARK_WINDOW_MS
            known = windows.get(row.id)
            if known is not None:
                floor = max(floor, known.known_ms - SLACK_MS)
            groups.setdefault(floor // SLACK_MS, []).append((row.id, floor))
        frames: list[Row[int, int, int, bytes]] = []
        for members in groups.values():
            floor = min(f for _, f in members)
            for chunk in chunks([host_id for host_id, _ in members]):
                frames.extend(
                    conn.execute(
                        select(
                            metric_frames.c.host_id,
                            metric_frames.c.ts_ms,
                            metric_frames.c.layout_id,
                            metric_frames.c.vals,
                        ).where(
                            metric_frames.c.host_id.in_(chunk),
                            metric_frames.c.ts_ms >= lookback(floor),
                        )
                    )
                )
        self.layouts.load(conn, {row.layout_id for row in frames})
        floors = {host_id: floor for members in groups.values() for host_id, floor in members}
        for host_id, row_ts, layout_id, blob in frames:
            window = windows.get(host_id)
            if window is None:
                window = windows[host_id] = HostWindow()
            ref = RowRef(row_ts, layout_id, blob)
            for ts_ms in chunk_times(row_ts, blob)[0]:
                if ts_ms >= floors[host_id]:
                    window.add(ts_ms, layout_id, ref)
        for row in behind:
            window = windows.get(row.id)
            if window is not None:
                # newest_ms is its newest row's first snapshot: the window may know later ones.
                window.forget_before(max(row.newest_ms, window.known_ms) - SPARK_WINDOW_MS)

    def _fleet_host(self, row: Row[Any], now_ms: int) -> FleetHost:
        window = self._windows.by_host.get(row.id)
        interval, series = (
            (DEFAULT_INTERVAL_MS, []) if window is None else window.sparkline(self.layouts)
        )
        return FleetHost(
            id=row.id,
            name=row.name,
            machine_id=row.machine_id,
            agent_version=row.agent_version,
            last_seen=datetime_of_ms(row.last_seen_ms),
            status=status_of(now_ms - row.last_seen_ms, interval),
            interval_seconds=interval / 1000,
            latest=series[-1][1] if series else None,
            spark=series,
        )

    def summary(
        self, tenant_id: int, start_ms: int, end_ms: int, now_ms: int, worst: int = 5
    ) -> FleetSummary:
        """Counts by status, the fleet's averages and the worst hosts over [start, end]
        (query/summary.py); status as the overview has it now."""
        overview = self.overview(tenant_id, now_ms)
        return self._summaries.summary(overview, start_ms, end_ms, now_ms, worst)

    def host(self, tenant_id: int, host_id: int, now_ms: int) -> HostDetail | None:
        """The host's inventory fields, its newest values grouped by section (a section
        without data is absent) and their headline."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_HOST_COLUMNS, hosts.c.first_seen_ms).where(
                    hosts.c.tenant_id == tenant_id, hosts.c.id == host_id
                )
            ).first()
            if row is None:
                return None
            recent = conn.execute(
                select(metric_frames.c.ts_ms, metric_frames.c.layout_id, metric_frames.c.vals)
                .where(metric_frames.c.host_id == host_id)
                .order_by(metric_frames.c.ts_ms.desc())
                .limit(_RECENT_FRAMES)
            ).all()
            self.layouts.load(conn, {r.layout_id for r in recent})
        # A row may hold several snapshots (store/chunks.py): the newest may be in any row
        # that starts within a chunk's span of the newest row's start.
        times = {(r.ts_ms, r.layout_id): chunk_times(r.ts_ms, r.vals)[0] for r in recent}
        newest = max((t for ts in times.values() for t in ts), default=None)
        sections: dict[str, Section] = {}
        latest: Headline | None = None
        for ts_ms, layout_id, blob in recent:
            if newest is None or newest not in times[(ts_ms, layout_id)]:
                continue
            raw = dict(decode_chunk(ts_ms, blob))[newest]
            for key, value in zip(self.layouts.keys[layout_id], raw, strict=True):
                place(sections, key, value_or_none(value))
            headline = self.layouts.plans[layout_id].headline(raw)
            latest = headline if latest is None else merge(latest, headline)
        interval = interval_ms(sorted({t for ts in times.values() for t in ts}))
        return HostDetail(
            id=row.id,
            name=row.name,
            machine_id=row.machine_id,
            agent_version=row.agent_version,
            first_seen=datetime_of_ms(row.first_seen_ms),
            last_seen=datetime_of_ms(row.last_seen_ms),
            status=status_of(now_ms - row.last_seen_ms, interval),
            interval_seconds=interval / 1000,
            sampled_at=None if newest is None else datetime_of_ms(newest),
            sections=sections,
            latest=latest,
        )
