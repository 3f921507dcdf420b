"""Arithmetic on a host's points, shared by its charts (query/charts.py): a counter's rate, a
filesystem's fill trend, point-wise combinations and one time axis for several lines.

A counter's rate is the difference of two consecutive points over their distance in time; a
negative difference is a counter reset and gives no point (None), as Prometheus' rate() would
not invent one. On a rollup tier the points are bucket averages, whose differences are the
same rate spread over a bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from fleetscope.query.metrics import Point, Series

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class FillTrend:
    mountpoint: str
    used_percent: float | None  # the newest point's used / (used + avail), as df's Use%
    bytes_per_day: float | None  # least-squares slope of used bytes over the range
    days_to_full: float | None  # None unless it is filling


def counter_rate(points: Sequence[Point]) -> list[Point]:
    """Per-second increase between consecutive points; None at the first point, across a gap
    and at a counter reset."""
    out: list[Point] = []
    previous: Point | None = None
    for t, value in points:
        rate = None
        if previous is not None and value is not None and previous[1] is not None:
            dt = t - previous[0]
            delta = value - previous[1]
            if dt > 0 and delta >= 0:
                rate = delta / dt
        out.append((t, rate))
        previous = (t, value)
    return out


def fill_trend(mountpoint: str, used: Sequence[Point], avail: Sequence[Point]) -> FillTrend:
    """Used bytes fitted by least squares against time; days to full = the newest available
    bytes over the slope, when the slope is positive."""
    pairs = [(t, u) for t, u in used if u is not None]
    free = {t: a for t, a in avail if a is not None}
    newest = next((t for t, _ in reversed(pairs) if t in free), None)
    percent = None
    if newest is not None:
        used_now = dict(pairs)[newest]
        total = used_now + free[newest]
        percent = 100 * used_now / total if total > 0 else None
    slope = _slope(pairs)
    per_day = None if slope is None else slope * SECONDS_PER_DAY
    days = None
    if per_day is not None and per_day > 0 and newest is not None:
        days = free[newest] / per_day
    return FillTrend(mountpoint, percent, per_day, days)


def _slope(pairs: Sequence[tuple[float, float]]) -> float | None:
    n = len(pairs)
    if n < 3:
        return None
    mean_t = sum(t for t, _ in pairs) / n
    mean_v = sum(v for _, v in pairs) / n
    spread = sum((t - mean_t) ** 2 for t, _ in pairs)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in pairs) / spread


def aligned(
    lines: Iterable[tuple[str, Sequence[Point]]],
) -> tuple[list[float], list[tuple[str, list[float | None]]]]:
    """One time axis (the union of the lines' times) and each line's value at each time."""
    collected = list(lines)
    times = sorted({t for _, points in collected for t, _ in points})
    out = []
    for label, points in collected:
        at = dict(points)
        out.append((label, [at.get(t) for t in times]))
    return times, out


def combine(
    series: Sequence[Sequence[Point]], how: Callable[[list[float]], float]
) -> list[tuple[float, float]]:
    """Point-wise combination of several series (sum, mean, max) over their common times."""
    by_time: dict[float, list[float]] = {}
    for points in series:
        for t, value in points:
            if value is not None:
                by_time.setdefault(t, []).append(value)
    return [(t, how(values)) for t, values in sorted(by_time.items())]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


class SeriesIndex:
    """The range scan's series by metric name."""

    def __init__(self, series: Iterable[Series]) -> None:
        self.by_name: dict[str, list[Series]] = {}
        for s in series:
            self.by_name.setdefault(s.metric, []).append(s)

    def one(self, name: str) -> list[Point]:
        found = self.by_name.get(name)
        return found[0].points if found else []

    def by(self, name: str, label: str) -> dict[str, list[Point]]:
        return {s.labels.get(label, ""): s.points for s in self.by_name.get(name, [])}
