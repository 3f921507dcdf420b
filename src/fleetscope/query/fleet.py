"""The fleet at a glance, for the dashboard's overview, the summary report and the host page:
each host's status and headline values (CPU, memory, fullest filesystem, network), and a host's
latest values grouped by section.

Status comes from how old a host's last sample is, measured in the host's own interval (the
median spacing of its recent samples, 10 s until there are two):
* live: the last sample is at most 2 intervals old;
* stale: older than that, up to STALE_LIMIT_MS (10 minutes);
* offline: older still, or never sampled.

Latest values cost one index probe per host (a correlated max(ts_ms) over the (host_id, ts_ms)
primary key), never a GROUP BY over all frames: MEASURED.md has 7 ms against 4-20 s at 1,000
hosts x 1 day. The summary report scans the raw frames of its range: rollup tiers will replace
that scan for long ranges."""

from __future__ import annotations

import functools
import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Connection, Engine, and_, func, select

from fleetscope.model.series import split_series_key
from fleetscope.store.frames import decode_frame, value_or_none
from fleetscope.store.tables import hosts, metric_frames, metric_layouts
from fleetscope.store.writer import decode_layout

Status = Literal["live", "stale", "offline"]
DEFAULT_INTERVAL_MS = 10_000
LIVE_INTERVALS = 2
STALE_LIMIT_MS = 10 * 60_000
SPARK_WINDOW_MS = 10 * 60_000
SPARK_POINTS = 30
# Mounts that are full by design (squashfs snaps, ISO images) would always be the "fullest".
_READONLY = "filesystem_readonly"
_NOT_TRAFFIC = frozenset({"lo"})
_TRAFFIC = frozenset({"network_receive_bytes_per_second", "network_transmit_bytes_per_second"})


def status_of(age_ms: int | None, interval_ms: int) -> Status:
    if age_ms is None:
        return "offline"
    if age_ms <= LIVE_INTERVALS * interval_ms:
        return "live"
    if age_ms <= max(STALE_LIMIT_MS, LIVE_INTERVALS * interval_ms):
        return "stale"
    return "offline"


@dataclass(frozen=True, slots=True)
class Headline:
    """The four numbers the overview shows per host; None when the host sends no such data."""

    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None  # the fullest writable filesystem, used / (used + avail) as df
    network_bytes_per_second: float | None  # receive + transmit, all interfaces but lo


@dataclass(frozen=True, slots=True)
class HeadlinePlan:
    """Positions of the headline inputs in one layout, computed once per layout."""

    cpu: int | None
    memory_used: int | None
    memory_total: int | None
    filesystems: tuple[tuple[int, int, int | None], ...]  # (used, avail, readonly)
    network: tuple[int, ...]

    @staticmethod
    def of(keys: Sequence[str]) -> HeadlinePlan:
        index = {key: i for i, key in enumerate(keys)}
        mounts: dict[str, dict[str, int]] = {}
        network: list[int] = []
        for i, key in enumerate(keys):
            name, labels = split_series_key(key)
            if name.startswith("filesystem_") and "mountpoint" in labels:
                mounts.setdefault(labels["mountpoint"], {})[name] = i
            elif name in _TRAFFIC and labels.get("device") not in _NOT_TRAFFIC:
                network.append(i)
        filesystems = tuple(
            (m["filesystem_used_bytes"], m["filesystem_avail_bytes"], m.get(_READONLY))
            for m in mounts.values()
            if "filesystem_used_bytes" in m and "filesystem_avail_bytes" in m
        )
        return HeadlinePlan(
            cpu=index.get("cpu_utilization_percent"),
            memory_used=index.get("memory_used_bytes"),
            memory_total=index.get("memory_total_bytes"),
            filesystems=filesystems,
            network=tuple(network),
        )

    def headline(self, raw: Sequence[float]) -> Headline:
        """NaN is absent (store/frames.py); `x == x` is the fast NaN test on this hot path."""

        def at(i: int | None) -> float | None:
            if i is None:
                return None
            value = raw[i]
            return value if value == value else None  # noqa: PLR0124 (NaN test)

        used, total = at(self.memory_used), at(self.memory_total)
        memory = 100.0 * used / total if used is not None and total else None
        fullest = -1.0
        for used_i, avail_i, ro_i in self.filesystems:
            fs_used, fs_avail = raw[used_i], raw[avail_i]
            size = fs_used + fs_avail  # NaN when either is absent: then not > 0
            if size > 0 and (ro_i is None or raw[ro_i] != 1.0):
                fullest = max(fullest, 100.0 * fs_used / size)
        rate = 0.0
        rates = 0
        for i in self.network:
            value = raw[i]
            if value == value:  # noqa: PLR0124 (NaN test)
                rate += value
                rates += 1
        return Headline(
            at(self.cpu), memory, fullest if fullest >= 0 else None, rate if rates else None
        )


def merge(a: Headline, b: Headline) -> Headline:
    """Two layouts at one instant (a host whose agent split its snapshot): first value wins."""
    return Headline(
        a.cpu_percent if a.cpu_percent is not None else b.cpu_percent,
        a.memory_percent if a.memory_percent is not None else b.memory_percent,
        a.disk_percent if a.disk_percent is not None else b.disk_percent,
        a.network_bytes_per_second
        if a.network_bytes_per_second is not None
        else b.network_bytes_per_second,
    )


class Layouts:
    """Layout id → series keys and headline plan. Layouts never change once written."""

    def __init__(self) -> None:
        self.keys: dict[int, list[str]] = {}
        self.plans: dict[int, HeadlinePlan] = {}

    def load(self, conn: Connection, layout_ids: Iterable[int]) -> None:
        missing = set(layout_ids) - self.keys.keys()
        if not missing:
            return
        for layout_id, series_json in conn.execute(
            select(metric_layouts.c.id, metric_layouts.c.series).where(
                metric_layouts.c.id.in_(missing)
            )
        ):
            keys = decode_layout(series_json)
            self.keys[layout_id] = keys
            self.plans[layout_id] = HeadlinePlan.of(keys)


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
class HostAverage:
    id: int
    name: str
    status: Status
    averages: Headline


@dataclass(frozen=True, slots=True)
class FleetSummary:
    start: datetime
    end: datetime
    counts: dict[Status, int]
    averages: Headline  # mean over hosts of each host's mean in the range
    worst: dict[str, list[HostAverage]]  # metric → hosts, worst first


@dataclass(frozen=True, slots=True)
class Section:
    """A host's latest values of one section: unlabelled fields, and per-item fields (per disk
    device, per filesystem mountpoint, per network interface)."""

    values: dict[str, float | None]
    items: dict[str, dict[str, float | None]]


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


# Section name → the label that names an item in it. The agent's series prefixes are the
# sections (model/series.py); sections not listed here are not shown on the host page yet.
_SECTIONS: dict[str, str | None] = {
    "cpu": None,
    "memory": None,
    "disk": "device",
    "filesystem": "mountpoint",
    "network": "device",
}
_HEADLINE_FIELDS = ("cpu_percent", "memory_percent", "disk_percent", "network_bytes_per_second")


def _ms(dt_ms: int) -> datetime:
    return datetime.fromtimestamp(dt_ms / 1000, tz=UTC)


def _interval_ms(timestamps: Sequence[int]) -> int:
    gaps = [b - a for a, b in itertools.pairwise(timestamps) if b > a]
    return round(statistics.median(gaps)) if gaps else DEFAULT_INTERVAL_MS


def _worst_first(name: str, host: HostAverage) -> float:
    value: float = getattr(host.averages, name)
    return -value


def _thin(points: list[int], limit: int) -> list[int]:
    if len(points) <= limit:
        return points
    step = len(points) / limit
    picked = [points[int(i * step)] for i in range(limit - 1)]
    return [*picked, points[-1]]  # keep the newest: it is the value shown beside the chart


class FleetQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.layouts = Layouts()

    def overview(self, tenant_id: int, now_ms: int) -> list[FleetHost]:
        """Every host with status, latest headline and the last SPARK_WINDOW_MS of headlines.
        One statement: per host one probe for its newest ts_ms, then a range scan of its last
        minutes, both on the (host_id, ts_ms) primary key."""
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
        with self.engine.connect() as conn:
            host_rows = conn.execute(select(latest).order_by(latest.c.name, latest.c.id)).all()
            frames = conn.execute(
                select(
                    metric_frames.c.host_id,
                    metric_frames.c.ts_ms,
                    metric_frames.c.layout_id,
                    metric_frames.c.vals,
                )
                .join(
                    latest,
                    and_(
                        metric_frames.c.host_id == latest.c.id,
                        metric_frames.c.ts_ms >= latest.c.newest_ms - SPARK_WINDOW_MS,
                    ),
                )
                .order_by(metric_frames.c.host_id, metric_frames.c.ts_ms)
            ).all()
            self.layouts.load(conn, {row.layout_id for row in frames})
        # Group first and decode only the frames the sparkline keeps: decoding and the
        # headline arithmetic are most of this call's time (bench/bench_fleet_overview.py).
        by_host: dict[int, dict[int, list[tuple[int, bytes]]]] = {}
        for host_id, ts_ms, layout_id, blob in frames:
            by_host.setdefault(host_id, {}).setdefault(ts_ms, []).append((layout_id, blob))
        out = []
        for row in host_rows:
            instants = by_host.get(row.id, {})
            interval = _interval_ms(list(instants))
            series = []
            for ts_ms in _thin(list(instants), SPARK_POINTS):
                headline: Headline | None = None
                for layout_id, blob in instants[ts_ms]:
                    values = self.layouts.plans[layout_id].headline(decode_frame(blob))
                    headline = values if headline is None else merge(headline, values)
                if headline is not None:
                    series.append((ts_ms / 1000, headline))
            out.append(
                FleetHost(
                    id=row.id,
                    name=row.name,
                    machine_id=row.machine_id,
                    agent_version=row.agent_version,
                    last_seen=_ms(row.last_seen_ms),
                    status=status_of(now_ms - row.last_seen_ms, interval),
                    interval_seconds=interval / 1000,
                    latest=series[-1][1] if series else None,
                    spark=series,
                )
            )
        return out

    def summary(
        self, tenant_id: int, start_ms: int, end_ms: int, now_ms: int, worst: int = 5
    ) -> FleetSummary:
        overview = self.overview(tenant_id, now_ms)
        sums: dict[int, list[float]] = {}
        counts: dict[int, list[int]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    metric_frames.c.host_id,
                    metric_frames.c.layout_id,
                    metric_frames.c.vals,
                ).where(
                    metric_frames.c.tenant_id == tenant_id,
                    metric_frames.c.ts_ms >= start_ms,
                    metric_frames.c.ts_ms <= end_ms,
                )
            ).all()
            self.layouts.load(conn, {row.layout_id for row in rows})
        for host_id, layout_id, blob in rows:
            values = self.layouts.plans[layout_id].headline(decode_frame(blob))
            total = sums.setdefault(host_id, [0.0] * 4)
            seen = counts.setdefault(host_id, [0] * 4)
            for i, name in enumerate(_HEADLINE_FIELDS):
                value = getattr(values, name)
                if value is not None:
                    total[i] += value
                    seen[i] += 1
        averages = []
        for host in overview:
            if host.id not in sums:
                continue
            total, seen = sums[host.id], counts[host.id]
            means = [t / n if n else None for t, n in zip(total, seen, strict=True)]
            averages.append(HostAverage(host.id, host.name, host.status, Headline(*means)))
        fleet: list[float | None] = []
        ranked: dict[str, list[HostAverage]] = {}
        for name in _HEADLINE_FIELDS:
            having = [h for h in averages if getattr(h.averages, name) is not None]
            fleet.append(
                statistics.fmean(getattr(h.averages, name) for h in having) if having else None
            )
            ranked[name] = sorted(having, key=functools.partial(_worst_first, name))[:worst]
        status_counts: dict[Status, int] = {"live": 0, "stale": 0, "offline": 0}
        for host in overview:
            status_counts[host.status] += 1
        return FleetSummary(
            start=_ms(start_ms),
            end=_ms(end_ms),
            counts=status_counts,
            averages=Headline(*fleet),
            worst=ranked,
        )

    def host(self, tenant_id: int, host_id: int, now_ms: int) -> HostDetail | None:
        """The host's inventory fields and its newest values, grouped by section; a section
        without data is absent."""
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
                .limit(8)
            ).all()
            self.layouts.load(conn, {r.layout_id for r in recent})
        newest = recent[0].ts_ms if recent else None
        sections: dict[str, Section] = {}
        for ts_ms, layout_id, blob in recent:
            if ts_ms != newest:
                continue
            raw = decode_frame(blob)
            for key, value in zip(self.layouts.keys[layout_id], raw, strict=True):
                _place(sections, key, value_or_none(value))
        interval = _interval_ms(sorted({r.ts_ms for r in recent}))
        return HostDetail(
            id=row.id,
            name=row.name,
            machine_id=row.machine_id,
            agent_version=row.agent_version,
            first_seen=_ms(row.first_seen_ms),
            last_seen=_ms(row.last_seen_ms),
            status=status_of(now_ms - row.last_seen_ms, interval),
            interval_seconds=interval / 1000,
            sampled_at=None if newest is None else _ms(newest),
            sections=sections,
        )


def _place(sections: dict[str, Section], key: str, value: float | None) -> None:
    name, labels = split_series_key(key)
    section_name, _, field_name = name.partition("_")
    if section_name not in _SECTIONS or "mode" in labels:  # per-mode CPU seconds: not a card
        return
    item_label = _SECTIONS[section_name]
    section = sections.get(section_name)
    if section is None:
        section = sections[section_name] = Section({}, {})
    if item_label is not None and item_label in labels:
        section.items.setdefault(labels[item_label], {})[field_name] = value
    elif not labels:
        section.values[field_name] = value


_HOST_COLUMNS = (
    hosts.c.id,
    hosts.c.name,
    hosts.c.machine_id,
    hosts.c.agent_version,
    hosts.c.last_seen_ms,
)
