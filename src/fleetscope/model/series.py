"""How a snapshot becomes named series: the one flattening shared by digest, CSV export and
reports. Names follow Prometheus conventions: units in the name, counters end in _total.

A series key is the metric name plus its labels in Prometheus text form, e.g.
`cpu_core_seconds_total{cpu="0",mode="user"}`. Absent values flatten to None, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from pydantic import BaseModel

from fleetscope.model.payload import CpuModeSeconds, ExporterScrape, Snapshot

SeriesValue = tuple[str, float | None]


def series_key(name: str, labels: dict[str, str] | None = None) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def split_series_key(key: str) -> tuple[str, dict[str, str]]:
    """Inverse of series_key."""
    name, brace, rest = key.partition("{")
    if not brace:
        return name, {}
    labels: dict[str, str] = {}
    body = rest[:-1]
    i = 0
    while i < len(body):
        eq = body.index("=", i)
        label = body[i:eq]
        j = eq + 2  # skip ="
        value_chars: list[str] = []
        while body[j] != '"':
            if body[j] == "\\":
                j += 1
                value_chars.append({"n": "\n"}.get(body[j], body[j]))
            else:
                value_chars.append(body[j])
            j += 1
        labels[label] = "".join(value_chars)
        i = j + 2  # skip ",
    return name, labels


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _scalars(
    prefix: str, section: BaseModel, skip: frozenset[str] = frozenset()
) -> Iterator[SeriesValue]:
    """Every int/float field of a flat section as `<prefix>_<field>`."""
    for field, value in section:
        if field in skip or isinstance(value, (BaseModel, list, bool)):
            continue
        if value is None or isinstance(value, (int, float)):
            yield f"{prefix}_{field}", None if value is None else float(value)


def _modes(name: str, seconds: CpuModeSeconds, labels: dict[str, str]) -> Iterator[SeriesValue]:
    for mode, value in seconds:
        yield series_key(name, {**labels, "mode": mode}), value


def flatten_snapshot(snapshot: Snapshot) -> list[SeriesValue]:
    out: list[SeriesValue] = []
    if snapshot.cpu is not None:
        cpu = snapshot.cpu
        out.extend(_modes("cpu_seconds_total", cpu.seconds_total, {}))
        out.extend(_scalars("cpu", cpu))
        for core in cpu.cores:
            labels = {"cpu": str(core.cpu)}
            out.extend(_modes("cpu_core_seconds_total", core.seconds_total, labels))
            out.append(
                (series_key("cpu_core_utilization_percent", labels), core.utilization_percent)
            )
    if snapshot.memory is not None:
        out.extend(_scalars("memory", snapshot.memory))
    if snapshot.agent is not None:
        out.extend(_scalars("agent", snapshot.agent))
    for status in snapshot.collectors:
        labels = {"collector": status.name}
        out.append((series_key("collector_duration_seconds", labels), status.duration_seconds))
        out.append((series_key("collector_success", labels), 1.0 if status.success else 0.0))
    if snapshot.exporters is not None:
        out.extend(flatten_exporters(snapshot.exporters))
    return out


EXPORTER_LABEL = "exporter"
# Prometheus renames a scraped label that collides with a target label the same way
# (honor_labels: false): `exporter` from the exporter becomes `exported_exporter`.
_EXPORTED_EXPORTER_LABEL = "exported_exporter"


def flatten_exporters(scrapes: Iterable[ExporterScrape]) -> Iterator[SeriesValue]:
    """`exporter_<sample name>{<labels>,exporter="<target>"}` for every scraped sample, and
    `exporter_scrape_success` / `exporter_scrape_duration_seconds` per target.

    NaN and ±Inf flatten to None (absent): the store keeps float64 frames where NaN means
    absent, and the query API answers in JSON, which cannot carry infinities. The payload
    keeps them as they were exposed. A series key seen twice in one scrape (a broken exporter
    repeating a sample) keeps its first value.
    """
    for scrape in scrapes:
        target = {EXPORTER_LABEL: scrape.name}
        yield series_key("exporter_scrape_success", target), 1.0 if scrape.success else 0.0
        yield series_key("exporter_scrape_duration_seconds", target), scrape.duration_seconds
        seen: set[str] = set()
        for sample in scrape.samples:
            labels = dict(sample.labels)
            if EXPORTER_LABEL in labels:
                labels[_EXPORTED_EXPORTER_LABEL] = labels.pop(EXPORTER_LABEL)
            key = series_key(f"exporter_{sample.name}", {**labels, **target})
            if key in seen:
                continue
            seen.add(key)
            yield key, sample.value if math.isfinite(sample.value) else None
