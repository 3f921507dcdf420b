"""The CSV form of series, shared by the reporting API (`?format=csv`) and
`fleetscope export csv`: one row per point, columns timestamp, metric, labels, value.

- timestamp: ISO-8601 UTC with milliseconds and a `Z` (`2026-11-22T08:00:00.000Z`).
- labels: a JSON object with sorted keys (`{"cpu":"0","mode":"user"}`), `{}` when none.
  JSON rather than `k=v;k=v` because label values may hold `;`, `=` and quotes (mountpoints,
  exporter labels), and JSON parses back without a bespoke escape rule.
- value: Python's shortest round-tripping float text; empty when the value was absent.

Written with the stdlib csv module (RFC 4180 quoting, CRLF line ends).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from fleetscope.model.payload import Payload
from fleetscope.model.series import flatten_snapshot, split_series_key

HEADER = ("timestamp", "metric", "labels", "value")
CsvPoint = tuple[float, str, dict[str, str], float | None]  # unix seconds, metric, labels, value


def iso_utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def csv_lines(points: Iterable[CsvPoint]) -> Iterator[str]:
    """The header, then one CSV line per point, each ending in CRLF (the header travels with
    the first point, or alone when there is none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for seconds, metric, labels, value in points:
        writer.writerow(
            (
                iso_utc(seconds),
                metric,
                json.dumps(labels, sort_keys=True, separators=(",", ":")),
                "" if value is None else repr(value),
            )
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def payload_points(payload: Payload, metrics: frozenset[str] | None = None) -> Iterator[CsvPoint]:
    """Every flattened series value of a payload's snapshots (model/series.py), in snapshot
    order; only the metric names in `metrics` when given."""
    for shot in payload.snapshots:
        seconds = shot.timestamp.timestamp()
        for key, value in flatten_snapshot(shot):
            metric, labels = split_series_key(key)
            if metrics is None or metric in metrics:
                yield seconds, metric, labels, value
