"""The fleet summary over a range, read from three tiers: the 1-hour tier from the hour that
holds the range's start, the 1-minute tier after each host's newest hour row, and raw frames
only after its newest minute row (store/rollups.py: the 1m tier lags about 3 minutes, the 1h
tier up to an hour). Each row's headline is computed on its bucket's averages (sum / count)
and weighted by the snapshots folded into it (query/averages.py does the arithmetic).

Per host it keeps the hour rows' headlines (read again in full every REVALIDATE_MS, otherwise
only the newest hours) and the sum of the minute rows after the newest hour row, added to as
minutes arrive; the raw tail comes from the overview's windows (query/sparkline.py). That is
safe because a rollup row is only ever replaced whole by a recomputation over more (late)
frames, which changes its `frames` count, part of the cache key. docs/dashboard.md has the
figures."""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, select

from fleetscope.query.averages import FleetSummary, Host, HostSums, Totals, summarise
from fleetscope.query.headline import Headline, HeadlinePlan
from fleetscope.query.layouts import Layouts, chunks
from fleetscope.query.sparkline import SPARK_WINDOW_MS, Windows
from fleetscope.store.chunks import frames_in_range, lookback
from fleetscope.store.frames import NAN
from fleetscope.store.rollup_math import HOUR_MS, MINUTE_MS, Stats, decode_stats
from fleetscope.store.rollups import TIER_1H, TIER_1M
from fleetscope.store.tables import metric_frames

# How often the summary reads all of its range's hour rows again, to see late recomputations.
REVALIDATE_MS = 10 * 60_000
# Summary rows remembered (about 250 B each): 1,000 hosts x 24 h is about 100,000 rows.
MAX_CACHED_ROWS = 400_000


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
    """A rollup tier the summary reads (each row weighs the snapshots folded into it)."""

    name: str
    table: Table
    time: ColumnElement[int]
    blob: ColumnElement[bytes]
    weight: ColumnElement[int] | None

    def headline(self, plan: HeadlinePlan, blob: bytes) -> Headline:
        return plan.headline(_Averages(decode_stats(blob)))


_TIER_SOURCES = {
    tier.name: _Source(
        tier.name, tier.table, tier.table.c.bucket_ms, tier.table.c.stats, tier.table.c.frames
    )
    for tier in (TIER_1M, TIER_1H)
}
# (source, host_id, ts or bucket start, layout_id)
_RowKey = tuple[str, int, int, int]
_Weighted = tuple[int, int, int, Headline]  # host_id, time, weight, headline


def _floor(ms: int, step: int) -> int:
    return ms // step * step


def _by_range(ranges: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int], list[int]]:
    """(host, start, end) ranges → hosts per distinct non-empty (start, end)."""
    grouped: dict[tuple[int, int], list[int]] = {}
    for host_id, start, end in ranges:
        if start < end:
            grouped.setdefault((start, end), []).append(host_id)
    return grouped


class Summaries:
    """The summary's reads and what it keeps between calls; safe to share between threads."""

    def __init__(
        self, engine: Engine, layouts: Layouts, windows: Windows, revalidate_ms: int
    ) -> None:
        self.engine = engine
        self.layouts = layouts
        self.windows = windows
        self.revalidate_ms = revalidate_ms
        self._rows: dict[_RowKey, tuple[int, Headline]] = {}
        self._rows_lock = threading.Lock()
        # Per host state, and when the hour rows were last read in full.
        self._sums: dict[int, HostSums] = {}
        self._sums_lock = threading.Lock()
        self._hours_read_ms: int | None = None
        self._hours_read_from = 0
        self._hours_newest = 0

    def summary(
        self, overview: Sequence[Host], start_ms: int, end_ms: int, now_ms: int, worst: int
    ) -> FleetSummary:
        """Counts by status, the fleet's averages and the worst hosts over [start, end]: the
        1h tier from the hour that holds start_ms (the range starts on a whole hour), the 1m
        tier after each host's newest hour row, raw frames after its newest minute row
        (module doc)."""
        ids = [h.id for h in overview]
        first_hour, end_minute = _floor(start_ms, HOUR_MS), _floor(end_ms + 1, MINUTE_MS)
        end_hour = _floor(end_ms + 1, HOUR_MS)
        totals: dict[int, Totals] = {}
        with self._sums_lock, self.engine.connect() as conn:
            self._read_hours(conn, ids, first_hour, end_hour, now_ms)
            minute_ranges = []
            for host_id in ids:
                sums = self._sums[host_id]
                total = totals[host_id] = Totals()
                hours, covered = sums.hour_totals(first_hour, end_hour)
                total.merge(hours)
                if sums.partial_from != covered:  # a new hour row covers the partial's minutes
                    sums.partial_from, sums.through_ms = covered, covered - MINUTE_MS
                    sums.partial = Totals()
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
                older = self._add_tail(host_id, sums, covered, end_ms, totals[host_id])
                if older is not None:
                    raw_ranges.append(older)
            for host_id, values in self._raw(conn, raw_ranges):
                totals[host_id].add(1, values)
        return summarise(overview, totals, start_ms, end_ms, worst)

    def _add_tail(
        self, host_id: int, sums: HostSums, covered: int, end_ms: int, total: Totals
    ) -> tuple[int, int, int] | None:
        """Add the host's raw frames of [covered, end_ms] that its overview window holds to
        `total` (kept in sums.tail and added to as frames arrive); the (host, start, end) of
        older raw frames still to read, if any."""
        older = None
        with self.windows.lock:
            window = self.windows.by_host.get(host_id)
            if window is None or not window.times:
                return None
            # The newest frames are in the overview's window; older ones, when the rollup
            # step lags more than the window, come from the database.
            window_from = window.times[-1] - SPARK_WINDOW_MS
            if covered < window_from:
                older = (host_id, covered, window_from)
            tail = sums.tail
            if tail is None or tail[0] != covered or tail[1] > end_ms:
                tail = (covered, covered - 1, Totals())
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
            total.merge(tail_total)
        return older

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
                self._sums[host_id] = HostSums()
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

    def _raw(
        self, conn: Connection, ranges: Sequence[tuple[int, int, int]]
    ) -> list[tuple[int, Headline]]:
        """The headline of every raw snapshot in each (host, start, end) range (end
        excluded); rare (only while the rollup step lags more than the overview's window), so
        not cached."""
        f = metric_frames.c
        out: list[tuple[int, Headline]] = []
        for (start, end), ids in _by_range(ranges).items():
            for chunk in chunks(ids):
                rows = conn.execute(
                    select(f.host_id, f.ts_ms, f.layout_id, f.vals).where(
                        f.host_id.in_(chunk), f.ts_ms >= lookback(start), f.ts_ms < end
                    )
                ).all()
                self.layouts.load(conn, {row[2] for row in rows})
                by_host: dict[int, list[tuple[int, int, bytes]]] = {}
                for host_id, ts_ms, layout_id, blob in rows:
                    by_host.setdefault(host_id, []).append((ts_ms, layout_id, blob))
                for host_id, found in by_host.items():
                    for _, layout_id, values in frames_in_range(found, start, end - 1):
                        out.append((host_id, self.layouts.plans[layout_id].headline(values)))
        return out

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
            for chunk in chunks(ids):
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
            for chunk in chunks(ids):
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
