"""Plots as PNG bytes (matplotlib, Agg: no display, thread-safe per figure).

Printed in black and white the lines stay apart by their dash pattern, not only by colour; a
long window is drawn as a median line inside a 5th-95th percentile band per time bucket, since
8,640 points a line would be an unreadable smear at a page's width.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from fleetscope.report.findings import Plot
from fleetscope.report.frame import Array

# Okabe-Ito colours (distinct for colour-blind readers), each with its own dash pattern.
_STYLES = (
    ("#000000", "-"),
    ("#0072B2", "--"),
    ("#D55E00", ":"),
    ("#009E73", "-."),
)
BAND_ABOVE_POINTS = 1_500
BUCKETS = 300


def _bands(ts: Array, values: Array) -> tuple[Array, Array, Array, Array]:
    """Per bucket: its middle time, the 5th, 50th and 95th percentile of its values."""
    edges = np.linspace(ts[0], ts[-1], BUCKETS + 1)
    # ts ascends, so each bucket is one slice of it.
    bounds = np.searchsorted(ts, edges[1:-1], side="left")
    mids, low, mid, high = [], [], [], []
    for bucket, part in enumerate(np.split(values, bounds)):
        picked = part[~np.isnan(part)]
        if len(picked) == 0:
            continue
        p5, p50, p95 = np.percentile(picked, (5, 50, 95))
        mids.append((edges[bucket] + edges[bucket + 1]) / 2)
        low.append(p5)
        mid.append(p50)
        high.append(p95)
    return np.asarray(mids), np.asarray(low), np.asarray(mid), np.asarray(high)


def _dates(seconds: Array) -> Array:
    """matplotlib's date numbers: days since its epoch, 1970-01-01 UTC by default."""
    epoch_days = mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC))  # type: ignore[no-untyped-call]
    result: Array = np.asarray(seconds, dtype=np.float64) / 86_400.0 + epoch_days
    return result


def render_plot(plot: Plot, ts: Array, width_in: float = 7.2, height_in: float = 2.5) -> bytes:
    figure = Figure(figsize=(width_in, height_in), dpi=110)
    axes = figure.subplots()
    banded = len(ts) > BAND_ABOVE_POINTS
    for (label, values), (colour, dash) in zip(plot.lines, _STYLES * 4, strict=False):
        if banded:
            mids, low, mid, high = _bands(ts, values)
            if len(mids) == 0:
                continue
            x = _dates(mids)
            axes.fill_between(x, low, high, color=colour, alpha=0.15, linewidth=0)
            axes.plot(x, mid, color=colour, linestyle=dash, linewidth=1.2, label=label)
        else:
            axes.plot(_dates(ts), values, color=colour, linestyle=dash, linewidth=1.2, label=label)
    if plot.threshold is not None:
        axes.axhline(plot.threshold, color="#555555", linestyle=(0, (1, 3)), linewidth=1)
        axes.annotate(
            f"threshold {plot.threshold:g}",
            xy=(1, plot.threshold),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=7,
            color="#333333",
        )
    if plot.forecast is not None:
        (x0, y0), (x1, y1) = plot.forecast
        # Drawn only to the window's end plus as much again: a far date would squash the data.
        span = float(ts[-1] - ts[0]) if len(ts) > 1 else 0.0
        x_end = min(x1, x0 + span)
        y_end = y0 + (y1 - y0) * ((x_end - x0) / (x1 - x0)) if x1 > x0 else y1
        axes.plot(
            _dates(np.asarray([x0, x_end])),
            [y0, y_end],
            color="#000000",
            linestyle=(0, (4, 2, 1, 2)),
            linewidth=1,
            label="forecast",
        )
    axes.set_title(
        plot.title + (" (median, 5th-95th percentile band)" if banded else ""), fontsize=9
    )
    axes.set_ylabel(plot.unit, fontsize=8)
    if plot.unit.startswith("%"):
        axes.set_ylim(0, 105)
    else:
        axes.set_ylim(bottom=0)
    axes.tick_params(labelsize=7)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.grid(True, color="#dddddd", linewidth=0.5)
    if plot.lines:
        # Outside the axes: inside, it hides the lines that run along the top (a busy CPU).
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    # Fixed margins, not tight_layout(): that measures every label again (docs/code-choices.md).
    figure.subplots_adjust(left=0.08, right=0.83, bottom=0.16, top=0.88)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
