"""The records an analysis produces, and the small statistics every check shares.

A Finding is one check of one resource (all CPUs, sda, /var, eth0): its severity, the numbers
that support it and what to do. Checks that passed are findings too (severity `ok`), so the
report shows what was looked at, not only what failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from fleetscope.report.frame import Array, Mask
from fleetscope.report.thresholds import Thresholds

Severity = Literal["ok", "info", "warning", "critical"]
SEVERITY_RANK: dict[Severity, int] = {"ok": 0, "info": 1, "warning": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Finding:
    subsystem: str  # cpu, memory, disk, filesystem, network, processes
    check: str  # e.g. cpu.utilization
    resource: str
    severity: Severity
    title: str
    facts: tuple[Fact, ...]
    recommendation: str
    # The first and last instants (epoch seconds) the condition held, when it held.
    window_start: float | None = None
    window_end: float | None = None
    driver: str | None = None  # the process group that drove it, when the host reports groups


@dataclass(frozen=True, slots=True)
class Plot:
    """One chart: named lines over the frame's timestamps, an optional threshold line and an
    optional straight forecast (from, to) in (epoch seconds, value) pairs."""

    title: str
    unit: str
    lines: tuple[tuple[str, Array], ...]
    threshold: float | None = None
    forecast: tuple[tuple[float, float], tuple[float, float]] | None = None


Row = tuple[str, ...]


@dataclass(slots=True)
class Subsystem:
    name: str
    title: str
    findings: list[Finding]
    # The numbers table: a header row, then one row per resource.
    table: list[Row]
    plots: list[Plot]
    note: str | None = None  # e.g. what the host did not report


def rate(values: Array, ts: Array) -> Array:
    """Per-second increase of a counter; NaN at the first instant and where it went down
    (a reset or wrap), like the agent's own rates (agent/rates.py)."""
    out = np.full(len(values), np.nan)
    if len(values) < 2:
        return out
    delta = np.diff(values)
    seconds = np.diff(ts)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_second = np.where((delta >= 0) & (seconds > 0), delta / seconds, np.nan)
    out[1:] = per_second
    return out


def share_above(values: Array, threshold: float) -> float:
    """Share of the instants with a value that are above `threshold` (0 when none has one)."""
    valid = ~np.isnan(values)
    if not valid.any():
        return 0.0
    return float((values[valid] > threshold).mean())


def percentile(values: Array, q: float) -> float | None:
    valid = values[~np.isnan(values)]
    return None if len(valid) == 0 else float(np.percentile(valid, q))


def maximum(values: Array) -> float | None:
    valid = values[~np.isnan(values)]
    return None if len(valid) == 0 else float(valid.max())


def window(ts: Array, mask: Mask) -> tuple[float | None, float | None]:
    where = np.flatnonzero(mask)
    if len(where) == 0:
        return None, None
    return float(ts[where[0]]), float(ts[where[-1]])


def by_share(share: float, t: Thresholds) -> Severity:
    if share >= t.critical_fraction:
        return "critical"
    return "warning" if share >= t.warning_fraction else "ok"


def trend(ts: Array, values: Array) -> tuple[float, float] | None:
    """Least-squares slope (per second) and r² of `values` over time; None with fewer than
    three points or no spread in time. A flat line has r² 0: there is no trend to explain."""
    valid = ~np.isnan(values)
    x, y = ts[valid], values[valid]
    if len(x) < 3 or float(np.ptp(x)) == 0:
        return None
    x0 = x - x[0]
    slope, intercept = np.polyfit(x0, y, 1)
    fitted = slope * x0 + intercept
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 0.0 if total == 0 else 1.0 - float(np.sum((y - fitted) ** 2)) / total
    return float(slope), r2


def fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None or np.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def fmt_bytes(value: float | None) -> str:
    if value is None or np.isnan(value):
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TiB"


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_share(share: float) -> str:
    return f"{share * 100:.1f} % of the window"
