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
hosts x 1 day.

Decoding a frame and computing its headline is most of the cost at fleet scale (about 15 µs a
frame, bench/bench_fleet_overview.py), so FleetQueries remembers what it computed. That is
safe because the rows it reads never change under the same key: a raw frame is written once
(INSERT ... ON CONFLICT DO NOTHING), and a rollup row is only ever replaced whole by a
recomputation over more (late) frames, which changes its `frames` count, part of the cache key.
* The overview keeps each host's last SPARK_WINDOW_MS of headlines and reads only frames newer
  than what it holds (minus SLACK_MS, for batches committed out of order).
* The summary reads the 1-hour tier from the hour that holds the range's start, the 1-minute
  tier after each host's newest hour row, and raw frames only after its newest minute row
  (store/rollups.py: the 1m tier lags about 3 minutes, the 1h tier up to an hour). Each row's
  headline is computed on its bucket's averages (sum / count) and weighted by the snapshots
  folded into it. Per host it keeps the hour rows' headlines (read again in full every
  REVALIDATE_MS, otherwise only the newest hours) and the sum of the minute rows after the
  newest hour row, added to as minutes arrive; the raw tail comes from the overview's window.
  docs/dashboard.md has the figures."""

from __future__ import annotations

import bisect
import functools
import itertools
import statistics
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, Connection, Engine, Row, Table, func, select

from fleetscope.model.series import split_series_key
from fleetscope.store.engine import datetime_of_ms as _ms
from fleetscope.store.frames import NAN, decode_frame, value_or_none
from fleetscope.store.rollup_math import HOUR_MS, MINUTE_MS, Stats, decode_stats
from fleetscope.store.rollups import TIER_1H, TIER_1M
from fleetscope.store.tables import hosts, metric_frames, metric_layouts
from fleetscope.store.writer import decode_layout

Status = Literal["live", "stale", "offline"]
DEFAULT_INTERVAL_MS = 10_000
LIVE_INTERVALS = 2
STALE_LIMIT_MS = 10 * 60_000
SPARK_WINDOW_MS = 10 * 60_000
SPARK_POINTS = 30
SPARK_SLOT_MS = SPARK_WINDOW_MS // SPARK_POINTS
# A host's interval is the median gap between its newest this many samples.
INTERVAL_SAMPLES = 11
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


class Indexed(Protocol):
    """A frame's values (array) or a rollup bucket's averages: read by position."""

    def __getitem__(self, index: int, /) -> float: ...


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

    def headline(self, raw: Indexed) -> Headline:
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


def _interval_ms(timestamps: Sequence[int]) -> int:
    gaps = [b - a for a, b in itertools.pairwise(timestamps) if b > a]
    return round(statistics.median(gaps)) if gaps else DEFAULT_INTERVAL_MS


def _worst_first(name: str, host: HostAverage) -> float:
    value: float = getattr(host.averages, name)
    return -value


def _summarise(
    overview: list[FleetHost],
    totals: dict[int, _Totals],
    start_ms: int,
    end_ms: int,
    worst: int,
) -> FleetSummary:
    averages = []
    for host in overview:
        found = totals.get(host.id)
        means = None if found is None else found.means()
        if means is not None:
            averages.append(HostAverage(host.id, host.name, host.status, means))
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


def _by_range(ranges: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int], list[int]]:
    """(host, start, end) ranges → hosts per distinct non-empty (start, end)."""
    grouped: dict[tuple[int, int], list[int]] = {}
    for host_id, start, end in ranges:
        if start < end:
            grouped.setdefault((start, end), []).append(host_id)
    return grouped


def _firsts(times: list[int]) -> list[int]:
    """The first of the (sorted) instants in each SPARK_SLOT_MS slot."""
    firsts: list[int] = []
    for ts_ms in times:
        if not firsts or ts_ms // SPARK_SLOT_MS != firsts[-1] // SPARK_SLOT_MS:
            firsts.append(ts_ms)
    return firsts


class _Averages:
    """A rollup bucket's per-series averages (sum / count), computed only at the positions a
    headline reads; NaN where the bucket holds no value of the series."""

    __slots__ = ("_stats",)

    def __init__(self, stats: Stats) -> None:
        self._stats = stats

    def __getitem__(self, index: int) -> float:
        count = self._stats.count[index]
        return self._stats.sum[index] / count if count else NAN


@dataclass(frozen=True, slots=True)
class _Source:
    """A table the summary reads: raw frames (each weighs 1) or a rollup tier (each row
    weighs the snapshots folded into it)."""

    name: str
    table: Table
    time: ColumnElement[int]
    blob: ColumnElement[bytes]
    weight: ColumnElement[int] | None

    def headline(self, plan: HeadlinePlan, blob: bytes) -> Headline:
        if self.weight is None:
            return plan.headline(decode_frame(blob))
        return plan.headline(_Averages(decode_stats(blob)))


_RAW = _Source("raw", metric_frames, metric_frames.c.ts_ms, metric_frames.c.vals, None)
_TIER_SOURCES = {
    tier.name: _Source(
        tier.name, tier.table, tier.table.c.bucket_ms, tier.table.c.stats, tier.table.c.frames
    )
    for tier in (TIER_1M, TIER_1H)
}
# (source, host_id, ts or bucket start, layout_id)
_RowKey = tuple[str, int, int, int]
_Weighted = tuple[int, int, int, Headline]  # host_id, time, weight, headline


@dataclass(slots=True)
class _HostWindow:
    """The overview's memory of one host: its frames of the last SPARK_WINDOW_MS, per instant
    and layout, each a blob until a sparkline picks it, then a headline. `spark` is the last
    result, valid until the window changes."""

    known_ms: int = 0  # the newest ts_ms read
    times: list[int] = field(default_factory=list)  # sorted
    firsts: list[int] = field(default_factory=list)  # the first instant of each spark slot
    parts: dict[int, dict[int, Headline | bytes]] = field(default_factory=dict)
    merged: dict[int, Headline] = field(default_factory=dict)
    spark: tuple[int, list[tuple[float, Headline]]] | None = None  # (interval, points)

    def add(self, ts_ms: int, layout_id: int, blob: bytes) -> None:
        layouts = self.parts.get(ts_ms)
        if layouts is None:
            self.parts[ts_ms] = {layout_id: blob}
            if not self.times or ts_ms > self.times[-1]:
                # The usual case, kept incremental: the newest frame opens a slot or not.
                if not self.times or ts_ms // SPARK_SLOT_MS != self.times[-1] // SPARK_SLOT_MS:
                    self.firsts.append(ts_ms)
                self.times.append(ts_ms)
            else:
                bisect.insort(self.times, ts_ms)
                self.firsts = _firsts(self.times)
        elif layout_id not in layouts:
            layouts[layout_id] = blob
            self.merged.pop(ts_ms, None)
        else:
            return
        self.known_ms = max(self.known_ms, ts_ms)
        self.spark = None

    def forget_before(self, cutoff_ms: int) -> None:
        gone = bisect.bisect_left(self.times, cutoff_ms)
        if gone:
            for ts_ms in self.times[:gone]:
                del self.parts[ts_ms]
                self.merged.pop(ts_ms, None)
            del self.times[:gone]
            del self.firsts[: bisect.bisect_left(self.firsts, cutoff_ms)]
            if self.times and (not self.firsts or self.firsts[0] != self.times[0]):
                self.firsts.insert(0, self.times[0])  # now the first of its (cut) slot
            self.spark = None

    def picks(self) -> list[int]:
        """The sparkline's instants: all of them up to SPARK_POINTS, else the first of each
        SPARK_SLOT_MS slot of absolute time, so that the picks stay the same from one call to
        the next and only new frames are decoded; the newest is always kept (it is the value
        shown beside the chart)."""
        if len(self.times) <= SPARK_POINTS:
            return self.times
        if self.firsts[-1] != self.times[-1]:
            return [*self.firsts, self.times[-1]]
        return self.firsts

    def headline(self, ts_ms: int, layouts: Layouts) -> Headline | None:
        """The instant's headline, its frames decoded now if not yet."""
        headline = self.merged.get(ts_ms)
        if headline is None:
            instant = self.parts[ts_ms]
            for layout_id, stored in instant.items():
                value = stored
                if isinstance(value, bytes):
                    value = layouts.plans[layout_id].headline(decode_frame(value))
                    instant[layout_id] = value  # the same key: the dict keeps its size
                headline = value if headline is None else merge(headline, value)
            if headline is not None:
                self.merged[ts_ms] = headline
        return headline

    def sparkline(self, layouts: Layouts) -> tuple[int, list[tuple[float, Headline]]]:
        """(interval, points), decoding only the frames the sparkline keeps: decoding and the
        headline arithmetic are most of the overview's time when the cache is cold."""
        if self.spark is not None:
            return self.spark
        series = []
        for ts_ms in self.picks():
            headline = self.headline(ts_ms, layouts)
            if headline is not None:
                series.append((ts_ms / 1000, headline))
        self.spark = (_interval_ms(self.times[-INTERVAL_SAMPLES:]), series)
        return self.spark


class _Totals:
    """Weighted sums of the four headline values (weight = snapshots behind a value)."""

    __slots__ = ("sums", "weights")

    def __init__(self) -> None:
        self.sums = [0.0, 0.0, 0.0, 0.0]
        self.weights = [0, 0, 0, 0]

    def add(self, weight: int, values: Headline) -> None:
        for i, value in enumerate(
            (
                values.cpu_percent,
                values.memory_percent,
                values.disk_percent,
                values.network_bytes_per_second,
            )
        ):
            if value is not None:
                self.sums[i] += weight * value
                self.weights[i] += weight

    def merge(self, other: _Totals) -> None:
        for i in range(4):
            self.sums[i] += other.sums[i]
            self.weights[i] += other.weights[i]

    def means(self) -> Headline | None:
        if not any(self.weights):
            return None
        return Headline(
            *(t / n if n else None for t, n in zip(self.sums, self.weights, strict=True))
        )


@dataclass(slots=True)
class _HostSums:
    """The summary's memory of one host: its hour rows' headlines, and the minute rows after
    its newest hour row summed as they arrive (`partial`, minutes from partial_from through
    through_ms). A late recomputation of a minute already summed is seen once its hour row
    exists (within about an hour)."""

    hours: dict[tuple[int, int], tuple[int, Headline]] = field(default_factory=dict)
    version: int = 0  # grows whenever `hours` changes
    # ((first hour, end hour, version), their totals, the end of the newest hour row)
    hours_total: tuple[tuple[int, int, int], _Totals, int] | None = None
    partial_from: int = -1
    through_ms: int = -1
    partial: _Totals = field(default_factory=_Totals)
    # (raw from, the newest frame summed, totals): the raw tail, added to as frames arrive
    tail: tuple[int, int, _Totals] | None = None

    def hour_totals(self, first_hour: int, end_hour: int) -> tuple[_Totals, int]:
        key = (first_hour, end_hour, self.version)
        if self.hours_total is None or self.hours_total[0] != key:
            total, covered = _Totals(), first_hour
            for (bucket, _), (weight, values) in self.hours.items():
                if first_hour <= bucket < end_hour:
                    total.add(weight, values)
                    covered = max(covered, bucket + HOUR_MS)
            self.hours_total = (key, total, covered)
        return self.hours_total[1], self.hours_total[2]


# How often the summary reads all of its range's hour rows again, to see late recomputations.
REVALIDATE_MS = 10 * 60_000
# Frames of one host can commit out of time order by this much (batches of several
# snapshots, several digest workers) and still be read by the next overview.
SLACK_MS = 30_000
# Summary rows remembered (about 250 B each): 1,000 hosts x 24 h is about 100,000 rows.
MAX_CACHED_ROWS = 400_000
# Host ids per statement: far below SQLite's 32,766 bound parameters.
_IDS_PER_STATEMENT = 1000


def _floor(ms: int, step: int) -> int:
    return ms // step * step


def _ceil(ms: int, step: int) -> int:
    return -(-ms // step) * step


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), _IDS_PER_STATEMENT):
        yield ids[i : i + _IDS_PER_STATEMENT]


class FleetQueries:
    """Safe to share between request threads: the caches are guarded by locks."""

    def __init__(self, engine: Engine, revalidate_ms: int = REVALIDATE_MS) -> None:
        self.engine = engine
        self.revalidate_ms = revalidate_ms
        self.layouts = Layouts()
        self._windows: dict[int, _HostWindow] = {}
        self._windows_lock = threading.Lock()
        self._rows: dict[_RowKey, tuple[int, Headline]] = {}
        self._rows_lock = threading.Lock()
        # The summary's per-host state, and when its hour rows were last read in full.
        self._sums: dict[int, _HostSums] = {}
        self._sums_lock = threading.Lock()
        self._hours_read_ms: int | None = None
        self._hours_read_from = 0
        self._hours_newest = 0

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
        with self._windows_lock, self.engine.connect() as conn:
            host_rows = conn.execute(select(latest).order_by(latest.c.name, latest.c.id)).all()
            self._refresh_windows(conn, host_rows)
            out = [self._fleet_host(row, now_ms) for row in host_rows]
        return out

    def _refresh_windows(self, conn: Connection, host_rows: Sequence[Row[Any]]) -> None:
        windows = self._windows
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
            for chunk in _chunks([host_id for host_id, _ in members]):
                frames.extend(
                    conn.execute(
                        select(
                            metric_frames.c.host_id,
                            metric_frames.c.ts_ms,
                            metric_frames.c.layout_id,
                            metric_frames.c.vals,
                        ).where(metric_frames.c.host_id.in_(chunk), metric_frames.c.ts_ms >= floor)
                    )
                )
        self.layouts.load(conn, {row.layout_id for row in frames})
        for host_id, ts_ms, layout_id, blob in frames:
            window = windows.get(host_id)
            if window is None:
                window = windows[host_id] = _HostWindow()
            window.add(ts_ms, layout_id, blob)
        for row in behind:
            window = windows.get(row.id)
            if window is not None:
                window.forget_before(row.newest_ms - SPARK_WINDOW_MS)

    def _fleet_host(self, row: Row[Any], now_ms: int) -> FleetHost:
        window = self._windows.get(row.id)
        interval, series = (
            (DEFAULT_INTERVAL_MS, []) if window is None else window.sparkline(self.layouts)
        )
        return FleetHost(
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

    def summary(
        self, tenant_id: int, start_ms: int, end_ms: int, now_ms: int, worst: int = 5
    ) -> FleetSummary:
        """Counts by status, the fleet's averages and the worst hosts over [start, end]: the
        1h tier from the hour that holds start_ms (the range starts on a whole hour), the 1m
        tier after each host's newest hour row, raw frames after its newest minute row
        (module doc)."""
        overview = self.overview(tenant_id, now_ms)
        ids = [h.id for h in overview]
        first_hour, end_minute = _floor(start_ms, HOUR_MS), _floor(end_ms + 1, MINUTE_MS)
        end_hour = _floor(end_ms + 1, HOUR_MS)
        totals: dict[int, _Totals] = {}
        with self._sums_lock, self.engine.connect() as conn:
            self._read_hours(conn, ids, first_hour, end_hour, now_ms)
            minute_ranges = []
            for host_id in ids:
                sums = self._sums[host_id]
                total = totals[host_id] = _Totals()
                hours, covered = sums.hour_totals(first_hour, end_hour)
                total.merge(hours)
                if sums.partial_from != covered:  # a new hour row covers the partial's minutes
                    sums.partial_from, sums.through_ms = covered, covered - MINUTE_MS
                    sums.partial = _Totals()
                minute_ranges.append((host_id, sums.through_ms + MINUTE_MS, end_minute))
            tier_1m = _TIER_SOURCES[TIER_1M.name]
            for host_id, at, weight, values in self._weighted(conn, tier_1m, minute_ranges):
                sums = self._sums[host_id]
                sums.partial.add(weight, values)
                sums.through_ms = max(sums.through_ms, at)
            raw_ranges = []
            for host_id in ids:
                sums = self._sums[host_id]
                totals[host_id].merge(sums.partial)
                covered = max(start_ms, sums.through_ms + MINUTE_MS)
                with self._windows_lock:
                    window = self._windows.get(host_id)
                    if window is None or not window.times:
                        continue
                    # The newest frames are in the overview's window; older ones, when the
                    # rollup step lags more than the window, come from the database.
                    window_from = window.times[-1] - SPARK_WINDOW_MS
                    if covered < window_from:
                        raw_ranges.append((host_id, covered, window_from))
                    tail = sums.tail
                    if tail is None or tail[0] != covered or tail[1] > end_ms:
                        tail = (covered, covered - 1, _Totals())
                    _, last, tail_total = tail
                    times = window.times
                    for ts_ms in times[bisect.bisect_right(times, last) :]:
                        if ts_ms > end_ms:
                            break
                        instant = window.headline(ts_ms, self.layouts)
                        if instant is not None:
                            tail_total.add(1, instant)
                        last = ts_ms
                    sums.tail = (covered, last, tail_total)
                    totals[host_id].merge(tail_total)
            for host_id, _, weight, values in self._weighted(conn, _RAW, raw_ranges):
                totals[host_id].add(weight, values)
        return _summarise(overview, totals, start_ms, end_ms, worst)

    def _read_hours(
        self, conn: Connection, ids: Sequence[int], first_hour: int, end_hour: int, now_ms: int
    ) -> None:
        """Bring each host's hour rows of [first_hour, end_hour) up to date. Hour rows appear
        at the newest hours, so most calls read only those; every revalidate_ms (and when the
        range reaches further back than the last full read) all of the range is read again,
        which is when a late recomputation of an older hour is seen."""
        full = (
            self._hours_read_ms is None
            or now_ms - self._hours_read_ms >= self.revalidate_ms
            or first_hour < self._hours_read_from
        )
        since = first_hour if full else max(first_hour, self._hours_newest - HOUR_MS)
        for host_id in ids:
            if host_id not in self._sums:
                self._sums[host_id] = _HostSums()
                since = first_hour  # a host not seen before: all of its range
        tier_1h = _TIER_SOURCES[TIER_1H.name]
        found = self._weighted(conn, tier_1h, [(h, since, end_hour) for h in ids])
        fresh: dict[int, dict[tuple[int, int], tuple[int, Headline]]] = {h: {} for h in ids}
        for host_id, bucket, weight, values in found:
            # _weighted's rows do not carry the layout: one headline per (bucket, position)
            rows = fresh[host_id]
            slot = 0
            while (bucket, slot) in rows:
                slot += 1
            rows[(bucket, slot)] = (weight, values)
            self._hours_newest = max(self._hours_newest, bucket)
        for host_id in ids:
            sums = self._sums[host_id]
            # Rows read again just now replace what was kept (a row gone from the tier goes
            # too); rows before the range are dropped: a later, longer range reads in full.
            kept = {k: v for k, v in sums.hours.items() if k[0] >= since}
            before = [k for k in sums.hours if k[0] < first_hour]
            if kept != fresh[host_id] or before:
                for key in [*kept, *before]:
                    del sums.hours[key]
                sums.hours.update(fresh[host_id])
                sums.version += 1
        if full:
            self._hours_read_ms = now_ms
        self._hours_read_from = first_hour if full else max(self._hours_read_from, first_hour)

    def _weighted(
        self, conn: Connection, source: _Source, ranges: Sequence[tuple[int, int, int]]
    ) -> list[_Weighted]:
        """The headline and weight of every row of `source` in each (host, start, end) range
        (end excluded). Reads the rows' keys, then fetches and decodes only rows not cached.
        Hosts with the same range share one statement."""
        table = source.table
        key_columns: list[ColumnElement[Any]] = [table.c.host_id, source.time, table.c.layout_id]
        if source.weight is not None:
            key_columns.append(source.weight)
        out: list[_Weighted] = []
        missing: dict[int, list[tuple[int, int, int]]] = {}  # host → (time, layout, weight)
        for (start, end), ids in _by_range(ranges).items():
            for chunk in _chunks(ids):
                for row in conn.execute(
                    select(*key_columns).where(
                        table.c.host_id.in_(chunk), source.time >= start, source.time < end
                    )
                ):
                    host_id, at, layout_id = row[0], row[1], row[2]
                    weight = 1 if source.weight is None else row[3]
                    hit = self._rows.get((source.name, host_id, at, layout_id))
                    if hit is not None and hit[0] == weight:
                        out.append((host_id, at, weight, hit[1]))
                    else:
                        missing.setdefault(host_id, []).append((at, layout_id, weight))
        if missing:
            out.extend(self._fetch(conn, source, missing))
        return out

    def _fetch(
        self,
        conn: Connection,
        source: _Source,
        missing: dict[int, list[tuple[int, int, int]]],
    ) -> list[_Weighted]:
        """Decode the missing rows and remember their headlines."""
        table = source.table
        wanted = {
            (host_id, at, layout_id): weight
            for host_id, rows in missing.items()
            for at, layout_id, weight in rows
        }
        ranges = [
            (host_id, min(r[0] for r in rows), max(r[0] for r in rows) + 1)
            for host_id, rows in missing.items()
        ]
        found: list[_Weighted] = []
        fresh: dict[_RowKey, tuple[int, Headline]] = {}
        for (start, end), ids in _by_range(ranges).items():
            for chunk in _chunks(ids):
                rows = conn.execute(
                    select(table.c.host_id, source.time, table.c.layout_id, source.blob).where(
                        table.c.host_id.in_(chunk), source.time >= start, source.time < end
                    )
                ).all()
                self.layouts.load(conn, {row[2] for row in rows})
                for host_id, at, layout_id, blob in rows:
                    weight = wanted.get((host_id, at, layout_id))
                    if weight is None:
                        continue
                    values = source.headline(self.layouts.plans[layout_id], blob)
                    fresh[(source.name, host_id, at, layout_id)] = (weight, values)
                    found.append((host_id, at, weight, values))
        with self._rows_lock:
            if len(self._rows) + len(fresh) > MAX_CACHED_ROWS:
                # Forget the oldest half (dicts keep insertion order).
                for key in list(itertools.islice(self._rows, len(self._rows) // 2)):
                    self._rows.pop(key, None)
            self._rows.update(fresh)
        return found

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
