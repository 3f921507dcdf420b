"""Functions over range vectors (rate, *_over_time, ...) and instant vectors, at every step.

A range function sees, per step, the samples of [end - range, end] (Prometheus 2.x: both ends
inclusive; staleness markers dropped). The windows of all steps are laid out as one padded
matrix (steps x most samples in a window, NaN beyond a window's count), so each function is a
few numpy operations rather than a loop over steps. The arithmetic follows Prometheus'
promql/functions.go, including extrapolatedRate's rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fleetscope.query.promql.values import (
    NAME,
    Bools,
    Floats,
    Ints,
    Raw,
    Series,
    Vector,
    drop_name,
    label,
)


@dataclass(slots=True)
class Windows:
    v: Floats  # steps x width, NaN past each row's count
    t: Ints  # steps x width, the samples' times (meaningless past the count)
    n: Ints  # samples in each step's window
    valid: Bools  # steps x width
    ends: Ints  # each step's window end (ms)
    range_ms: int


def windows(raw: Raw, ends: Ints, range_ms: int) -> Windows:
    present = ~np.isnan(raw.v)
    t, v = raw.t[present], raw.v[present]
    lo = np.searchsorted(t, ends - range_ms, side="left")
    hi = np.searchsorted(t, ends, side="right")
    n = (hi - lo).astype(np.int64)
    width = max(int(n.max(initial=0)), 1)
    offsets = np.arange(width)
    valid = offsets[None, :] < n[:, None]
    idx = np.minimum(lo[:, None] + offsets[None, :], max(len(t) - 1, 0))
    if len(t) == 0:
        return Windows(
            np.full((len(ends), 1), np.nan),
            np.zeros((len(ends), 1), np.int64),
            n,
            valid,
            ends,
            range_ms,
        )
    return Windows(np.where(valid, v[idx], np.nan), t[idx], n, valid, ends, range_ms)


# Padded windows of at most this many cells at once: a long range over many steps (a [1d]
# window at 10 s samples is 8,640 wide) is evaluated in slices of steps instead.
MAX_CELLS = 2_000_000


def apply(name: str, raw: Raw, ends: Ints, range_ms: int, q: Floats | None) -> tuple[Floats, Bools]:
    """range_function over every step, in slices of steps that keep the windows bounded."""
    present = ~np.isnan(raw.v)
    clean = Raw(raw.labels, raw.t[present], raw.v[present])
    lo = np.searchsorted(clean.t, ends - range_ms, side="left")
    hi = np.searchsorted(clean.t, ends, side="right")
    width = max(int((hi - lo).max(initial=0)), 1)
    chunk = max(1, MAX_CELLS // width)
    if chunk >= len(ends):
        return range_function(name, windows(clean, ends, range_ms), q)
    values, oks = [], []
    for first in range(0, len(ends), chunk):
        part = slice(first, first + chunk)
        v, ok = range_function(
            name, windows(clean, ends[part], range_ms), None if q is None else q[part]
        )
        values.append(v)
        oks.append(ok)
    return np.concatenate(values), np.concatenate(oks)


def _last(w: Windows, back: int = 1) -> tuple[Floats, Ints]:
    rows = np.arange(len(w.n))
    col = np.maximum(w.n - back, 0)
    return w.v[rows, col], w.t[rows, col]


def extrapolated_rate(w: Windows, is_counter: bool, is_rate: bool) -> tuple[Floats, Bools]:
    ok = w.n >= 2
    first, first_t = w.v[:, 0], w.t[:, 0]
    last, last_t = _last(w)
    result = last - first
    if is_counter and w.v.shape[1] > 1:
        prev, cur = w.v[:, :-1], w.v[:, 1:]
        reset = w.valid[:, 1:] & (cur < prev)
        result = result + np.where(reset, prev, 0.0).sum(axis=1)
    range_start = w.ends - w.range_ms
    to_start = (first_t - range_start) / 1000
    to_end = (w.ends - last_t) / 1000
    sampled = (last_t - first_t) / 1000
    with np.errstate(divide="ignore", invalid="ignore"):
        average = sampled / np.maximum(w.n - 1, 1)
        if is_counter:
            # Counters cannot go below zero: extrapolate at most to where the line hits 0.
            to_zero = sampled * (first / result)
            clamp = (result > 0) & (first >= 0) & (to_zero < to_start)
            to_start = np.where(clamp, to_zero, to_start)
        threshold = average * 1.1
        interval = sampled.copy()
        interval += np.where(to_start < threshold, to_start, average / 2)
        interval += np.where(to_end < threshold, to_end, average / 2)
        factor = interval / sampled
        if is_rate:
            factor = factor / (w.range_ms / 1000)
        return result * factor, ok


def instant_value(w: Windows, is_rate: bool) -> tuple[Floats, Bools]:
    last, last_t = _last(w)
    prev, prev_t = _last(w, 2)
    result = np.where(is_rate & (last < prev), last, last - prev)
    gap = last_t - prev_t
    ok = (w.n >= 2) & (gap != 0)
    if is_rate:
        with np.errstate(divide="ignore", invalid="ignore"):
            result = result / (gap / 1000)
    return result, ok


def deriv(w: Windows) -> tuple[Floats, Bools]:
    x = np.where(w.valid, (w.t - w.t[:, :1]) / 1e3, 0.0)
    y = np.where(w.valid, w.v, 0.0)
    n = w.n.astype(np.float64)
    const = np.all(~w.valid | (w.v == w.v[:, :1]), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sum_x, sum_y = x.sum(axis=1), y.sum(axis=1)
        cov = (x * y).sum(axis=1) - sum_x * sum_y / n
        var = (x * x).sum(axis=1) - sum_x * sum_x / n
        slope = np.where(const, np.where(np.isinf(w.v[:, 0]), np.nan, 0.0), cov / var)
    return slope, w.n >= 2


def quantile_rows(q: Floats, sorted_rows: Floats, n: Ints) -> Floats:
    """Prometheus' quantile() of each row's first n values (sorted ascending), q per row."""
    rows = np.arange(len(n))
    nf = n.astype(np.float64)
    rank = q * (nf - 1)
    lower = np.maximum(0.0, np.floor(rank))
    upper = np.minimum(nf - 1, lower + 1)
    weight = rank - np.floor(rank)
    lo_idx = np.clip(lower.astype(np.int64), 0, sorted_rows.shape[1] - 1)
    hi_idx = np.clip(upper.astype(np.int64), 0, sorted_rows.shape[1] - 1)
    out = sorted_rows[rows, lo_idx] * (1 - weight) + sorted_rows[rows, hi_idx] * weight
    out = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, out))
    return np.where(np.isnan(q), np.nan, out)


def over_time(  # noqa: PLR0911 (one return per function)
    name: str, w: Windows, q: Floats | None
) -> tuple[Floats, Bools]:
    ok = w.n >= 1
    n = np.maximum(w.n, 1).astype(np.float64)
    filled = np.where(w.valid, w.v, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "sum_over_time":
            return filled.sum(axis=1), ok
        if name == "avg_over_time":
            return filled.sum(axis=1) / n, ok
        if name == "count_over_time":
            return w.n.astype(np.float64), ok
        if name == "min_over_time":
            return np.where(w.valid, w.v, np.inf).min(axis=1), ok
        if name == "max_over_time":
            return np.where(w.valid, w.v, -np.inf).max(axis=1), ok
        if name == "last_over_time":
            return _last(w)[0], ok
        if name in {"stddev_over_time", "stdvar_over_time"}:
            mean = filled.sum(axis=1) / n
            var = (np.where(w.valid, w.v - mean[:, None], 0.0) ** 2).sum(axis=1) / n
            return (np.sqrt(var) if name == "stddev_over_time" else var), ok
        if name == "quantile_over_time":
            assert q is not None
            ordered = np.sort(np.where(w.valid, w.v, np.inf), axis=1)
            return quantile_rows(q, ordered, w.n), ok
    raise AssertionError(name)


RANGE_FUNCTIONS = frozenset(
    {
        "rate",
        "irate",
        "increase",
        "delta",
        "idelta",
        "deriv",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "count_over_time",
        "last_over_time",
        "quantile_over_time",
        "stddev_over_time",
        "stdvar_over_time",
    }
)


def range_function(name: str, w: Windows, q: Floats | None) -> tuple[Floats, Bools]:
    if name in {"rate", "increase", "delta"}:
        return extrapolated_rate(w, is_counter=name != "delta", is_rate=name == "rate")
    if name in {"irate", "idelta"}:
        return instant_value(w, is_rate=name == "irate")
    if name == "deriv":
        return deriv(w)
    return over_time(name, w, q)


def _round(v: Floats, to: Floats) -> Floats:
    inverse = 1 / to
    return np.floor(v * inverse + 0.5) / inverse


MATH: dict[str, Callable[[Floats], Floats]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
}


def math_function(name: str, arg: Vector, extra: list[Floats]) -> Vector:
    """abs, ceil, ... clamp_min, clamp_max, clamp and round: element-wise, name dropped."""
    out = []
    with np.errstate(all="ignore"):
        for s in arg:
            if name in MATH:
                v = MATH[name](s.v)
            elif name == "clamp_min":
                v = np.maximum(s.v, extra[0])
            elif name == "clamp_max":
                v = np.minimum(s.v, extra[0])
            elif name == "clamp":
                v = np.where(
                    extra[0] > extra[1], np.nan, np.maximum(np.minimum(s.v, extra[1]), extra[0])
                )
            else:  # round
                v = _round(s.v, extra[0] if extra else np.ones_like(s.v))
            # clamp with min > max answers nothing, as in Prometheus.
            ok = s.ok & ~(extra[0] > extra[1]) if name == "clamp" else s.ok
            out.append(Series(drop_name(s.labels), v, ok))
    return out


def histogram_quantile(q: Floats, arg: Vector) -> Vector:
    """Prometheus' bucketQuantile per group of `le` buckets (labels but le and __name__)."""
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, Series]]] = {}
    for s in arg:
        try:
            upper = float(label(s.labels, "le"))
        except ValueError:
            continue
        key = tuple(item for item in s.labels if item[0] not in {"le", NAME})
        groups.setdefault(key, []).append((upper, s))
    out = []
    for key, buckets in groups.items():
        buckets.sort(key=lambda b: b[0])
        bounds = sorted({b for b, _ in buckets})
        counts = np.zeros((len(bounds), len(q)))
        present = np.zeros((len(bounds), len(q)), dtype=bool)
        for upper, s in buckets:
            row = bounds.index(upper)
            counts[row] += np.where(s.ok, s.v, 0.0)  # coalesce buckets of equal bound
            present[row] |= s.ok
        v, ok = _bucket_quantile(q, np.array(bounds), counts, present)
        out.append(Series(key, v, ok))
    return out


def _bucket_quantile(
    q: Floats, bounds: Floats, counts: Floats, present: Bools
) -> tuple[Floats, Bools]:
    steps = counts.shape[1]
    v = np.full(steps, np.nan)
    ok = np.asarray(present.any(axis=0), dtype=np.bool_)
    for step in np.flatnonzero(ok):
        have = present[:, step]
        v[step] = _one_quantile(float(q[step]), bounds[have], counts[have, step])
    return v, ok


def _one_quantile(  # noqa: PLR0911 (the early answers of Prometheus' bucketQuantile)
    q: float, bounds: Floats, counts: Floats
) -> float:
    if np.isnan(q):
        return float("nan")
    if q < 0:
        return float("-inf")
    if q > 1:
        return float("inf")
    if len(bounds) == 0 or not np.isposinf(bounds[-1]):
        return float("nan")
    counts = np.maximum.accumulate(counts)
    if len(bounds) < 2:
        return float("nan")
    observations = float(counts[-1])
    if observations == 0:
        return float("nan")
    rank = q * observations
    found = np.flatnonzero(counts[:-1] >= rank)
    b = int(found[0]) if len(found) else len(bounds) - 1
    if b == len(bounds) - 1:
        return float(bounds[-2])
    if b == 0 and bounds[0] <= 0:
        return float(bounds[0])
    start, end, count = 0.0, float(bounds[b]), float(counts[b])
    if b > 0:
        start = float(bounds[b - 1])
        count -= float(counts[b - 1])
        rank -= float(counts[b - 1])
    return start + (end - start) * (rank / count)
