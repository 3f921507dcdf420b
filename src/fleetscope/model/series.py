"""How a snapshot becomes named series: the one flattening shared by digest, CSV export and
reports. Names follow Prometheus conventions: units in the name, counters end in _total.

A series key is the metric name plus its labels in Prometheus text form, e.g.
`cpu_core_seconds_total{cpu="0",mode="user"}`. Absent values flatten to None, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from pydantic import BaseModel

from fleetscope.model.payload import (
    CpuModeSeconds,
    CpuSection,
    DiskSection,
    ExporterScrape,
    FilesystemSection,
    NetworkSection,
    Pressure,
    ProcessesSection,
    Snapshot,
)

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


def _pressure(prefix: str, pressure: Pressure | None) -> Iterator[SeriesValue]:
    if pressure is None:
        return
    for kind, stall in (("some", pressure.some), ("full", pressure.full)):
        if stall is not None:
            for field, value in stall:
                yield series_key(f"{prefix}_pressure_{field}", {"kind": kind}), value


def _flatten_processes(section: ProcessesSection) -> Iterator[SeriesValue]:
    """Groups become series; the top-N lists do not (a pid label would make a new series for
    every short-lived process): they travel in the payload for the process tables."""
    yield "processes_count", float(section.count)
    for group in section.groups:
        labels = {"group": group.name}
        yield (
            series_key("process_group_cpu_seconds_total", {**labels, "mode": "user"}),
            group.cpu_user_seconds_total,
        )
        yield (
            series_key("process_group_cpu_seconds_total", {**labels, "mode": "system"}),
            group.cpu_system_seconds_total,
        )
        for field, value in group:
            if field not in ("name", "cpu_user_seconds_total", "cpu_system_seconds_total"):
                yield (
                    series_key(f"process_group_{field}", labels),
                    None if value is None else float(value),
                )


def _labelled(
    prefix: str, record: BaseModel, labels: dict[str, str], skip: frozenset[str]
) -> Iterator[SeriesValue]:
    """Every number or bool field of a per-device record as `<prefix>_<field>{labels}`; a bool
    is 1/0 (like node_exporter's node_network_up), strings are skipped."""
    for field, value in record:
        if field in skip:
            continue
        if isinstance(value, bool):
            yield series_key(f"{prefix}_{field}", labels), 1.0 if value else 0.0
        elif value is None or isinstance(value, (int, float)):
            yield series_key(f"{prefix}_{field}", labels), None if value is None else float(value)


def _flatten_network(network: NetworkSection) -> Iterator[SeriesValue]:
    """`network_receive_bytes_total{device="eth0"}`, `network_up{device=...}`,
    `network_tcp_connections{state="ESTABLISHED"}`, `network_tcp_in_use` ..."""
    for interface in network.interfaces:
        labels = {"device": interface.device}
        yield from _labelled("network", interface, labels, frozenset({"device", "operstate"}))
    if network.tcp_connections_by_state is not None:
        for state, count in sorted(network.tcp_connections_by_state.items()):
            yield series_key("network_tcp_connections", {"state": state}), float(count)
    yield from _scalars("network", network, skip=frozenset({"tcp_connections_by_state"}))


def _flatten_disk(disk: DiskSection) -> Iterator[SeriesValue]:
    """`disk_read_bytes_total{device="sda"}`, `disk_read_iops{device=...}`,
    `disk_await_seconds{device=...}`, `disk_utilization_percent{device=...}` ..."""
    for device in disk.devices:
        yield from _labelled("disk", device, {"device": device.device}, frozenset({"device"}))


def flatten_snapshot(snapshot: Snapshot) -> list[SeriesValue]:
    out: list[SeriesValue] = []
    if snapshot.cpu is not None:
        out.extend(_flatten_cpu(snapshot.cpu))
    if snapshot.memory is not None:
        out.extend(_scalars("memory", snapshot.memory))
        out.extend(_pressure("memory", snapshot.memory.pressure))
    if snapshot.network is not None:
        out.extend(_flatten_network(snapshot.network))
    if snapshot.disk is not None:
        out.extend(_flatten_disk(snapshot.disk))
    if snapshot.processes is not None:
        out.extend(_flatten_processes(snapshot.processes))
    if snapshot.filesystem is not None:
        out.extend(flatten_filesystem(snapshot.filesystem))
    # snapshot.inventory is not flattened: it describes the host, it is not a time series; the
    # pipeline stores it as rows (one per content version) beside the series.
    if snapshot.agent is not None:
        out.extend(_scalars("agent", snapshot.agent))
    for status in snapshot.collectors:
        labels = {"collector": status.name}
        out.append((series_key("collector_duration_seconds", labels), status.duration_seconds))
        out.append((series_key("collector_success", labels), 1.0 if status.success else 0.0))
    if snapshot.exporters is not None:
        out.extend(flatten_exporters(snapshot.exporters))
    return out


def _flatten_cpu(cpu: CpuSection) -> Iterator[SeriesValue]:
    yield from _modes("cpu_seconds_total", cpu.seconds_total, {})
    yield from _scalars("cpu", cpu)
    for core in cpu.cores:
        labels = {"cpu": str(core.cpu)}
        yield from _modes("cpu_core_seconds_total", core.seconds_total, labels)
        yield series_key("cpu_core_utilization_percent", labels), core.utilization_percent
        if core.frequency_hz is not None:
            yield series_key("cpu_core_frequency_hz", labels), core.frequency_hz
            yield series_key("cpu_core_frequency_min_hz", labels), core.frequency_min_hz
            yield series_key("cpu_core_frequency_max_hz", labels), core.frequency_max_hz
    for temp in cpu.temperatures:
        labels = {"source": temp.source, "sensor": temp.sensor}
        yield series_key("cpu_temperature_celsius", labels), temp.celsius
    yield from _pressure("cpu", cpu.pressure)


def flatten_filesystem(section: FilesystemSection) -> Iterator[SeriesValue]:
    """`filesystem_<field>{device,fstype,mountpoint}`, as node_exporter's node_filesystem_*;
    flags become 0/1."""
    for mount in section.mounts:
        labels = {"device": mount.device, "mountpoint": mount.mountpoint, "fstype": mount.fstype}
        for field, value in mount:
            if field in labels:
                continue
            number = float(value) if isinstance(value, (bool, int, float)) else None
            yield series_key(f"filesystem_{field}", labels), number


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
