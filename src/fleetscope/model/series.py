"""How a snapshot becomes named series: the one flattening shared by digest, CSV export and
reports. Names follow Prometheus conventions: units in the name, counters end in _total.

A series key is the metric name plus its labels in Prometheus text form, e.g.
`cpu_core_seconds_total{cpu="0",mode="user"}`. Absent values flatten to None, never 0.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from fleetscope.model.payload import CpuModeSeconds, DiskSection, NetworkSection, Snapshot

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
    if snapshot.network is not None:
        out.extend(_flatten_network(snapshot.network))
    if snapshot.disk is not None:
        out.extend(_flatten_disk(snapshot.disk))
    if snapshot.agent is not None:
        out.extend(_scalars("agent", snapshot.agent))
    for status in snapshot.collectors:
        labels = {"collector": status.name}
        out.append((series_key("collector_duration_seconds", labels), status.duration_seconds))
        out.append((series_key("collector_success", labels), 1.0 if status.success else 0.0))
    return out
