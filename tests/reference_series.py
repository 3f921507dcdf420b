"""How a snapshot becomes named series: the one flattening shared by digest, CSV export and
reports. Names follow Prometheus conventions: units in the name, counters end in _total.

A series key is the metric name plus its labels in Prometheus text form, e.g.
`cpu_core_seconds_total{cpu="0",mode="user"}`. Absent values flatten to None, never 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator

from msgspec import Struct
from msgspec.structs import astuple

from fleetscope.model.exporters import ExporterScrape
from fleetscope.model.payload import (
    CpuCore,
    CpuModeSeconds,
    CpuSection,
    DiskDevice,
    DiskSection,
    FilesystemMount,
    FilesystemSection,
    NetworkInterface,
    NetworkSection,
    Pressure,
    PressureStall,
    ProcessesSection,
    ProcessGroup,
    Snapshot,
)
from fleetscope.model.payload_kernel import (
    FileHandlesSection,
    MemoryDetail,
    NetstatCounters,
    SockstatCounts,
    Softirqs,
)

SeriesValue = tuple[str, float | None]
Labels = tuple[tuple[str, str], ...]
# A Struct's fields in order, each with its series key, or None when the field is no series.
Keys = tuple[str | None, ...]


def series_key(name: str, labels: dict[str, str] | None = None) -> str:
    """Prometheus text form. A name outside the classic character set (a dotted or UTF-8 name)
    is quoted as Prometheus 3 writes it: `{"cpu.usage_user",host="a"}`, `up{"host.name"="a"}`;
    classic names keep their form, so stored layouts do not change."""
    inner = ",".join(f'{_label_name(k)}="{_escape(v)}"' for k, v in sorted((labels or {}).items()))
    if _CLASSIC_METRIC.fullmatch(name):
        return f"{name}{{{inner}}}" if inner else name
    quoted = f'"{_escape(name)}"'
    return f"{{{quoted},{inner}}}" if inner else f"{{{quoted}}}"


def split_series_key(key: str) -> tuple[str, dict[str, str]]:
    """Inverse of series_key."""
    if key.startswith("{"):
        name, i = _quoted(key, 1)
    else:
        name, brace, _ = key.partition("{")
        if not brace:
            return name, {}
        i = len(name)
    labels: dict[str, str] = {}
    while key[i] != "}":
        i += 1  # the "{" or "," before a label
        if key[i] == '"':
            label, i = _quoted(key, i)
        else:
            eq = key.index("=", i)
            label, i = key[i:eq], eq
        labels[label], i = _quoted(key, i + 1)  # past the "="
    return name, labels


_CLASSIC_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_CLASSIC_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _label_name(name: str) -> str:
    return name if _CLASSIC_LABEL.fullmatch(name) else f'"{_escape(name)}"'


def _quoted(key: str, i: int) -> tuple[str, int]:
    """The escaped string that starts with the quote at key[i], and the index past its end."""
    chars: list[str] = []
    j = i + 1
    while key[j] != '"':
        if key[j] == "\\":
            j += 1
            chars.append("\n" if key[j] == "n" else key[j])
        else:
            chars.append(key[j])
        j += 1
    return "".join(chars), j + 1


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# Digest flattens every snapshot it stores, and building the same key strings again (sorting
# labels, escaping, formatting) was most of that cost; the keys of a record depend only on its
# type, prefix and labels, so they are built once and kept. Cleared when full: exporters'
# labels are not bounded.
_KEYS: dict[tuple[object, ...], Keys] = {}
_MAX_CACHED_KEYS = 50_000


def _keys(
    record: type[Struct],
    name: str,
    labels: Labels = (),
    skip: frozenset[str] = frozenset(),
    label: str | None = None,
) -> Keys:
    """`<name>_<field>{labels}` for every field of `record` but `skip`; with `label`, the
    name is `name` itself and the field becomes that label (`cpu_seconds_total{mode="user"}`)."""
    cache_key = (record, name, labels, skip, label)
    keys = _KEYS.get(cache_key)
    if keys is None:
        if len(_KEYS) >= _MAX_CACHED_KEYS:
            _KEYS.clear()
        keys = tuple(
            None
            if field in skip
            else series_key(f"{name}_{field}", dict(labels))
            if label is None
            else series_key(name, {**dict(labels), label: field})
            for field in record.__struct_fields__
        )
        _KEYS[cache_key] = keys
    return keys


def _key(name: str, labels: Labels) -> str:
    """series_key, kept like _keys for the one-off series (collectors, temperatures)."""
    cache_key = (name, labels)
    keys = _KEYS.get(cache_key)
    if keys is None:
        if len(_KEYS) >= _MAX_CACHED_KEYS:
            _KEYS.clear()
        keys = _KEYS[cache_key] = (series_key(name, dict(labels)),)
    key = keys[0]
    assert key is not None
    return key


def _emit(out: list[SeriesValue], keys: Keys, record: Struct, bools: bool) -> None:
    """The fields of `record` that have a key: numbers as floats, None as None (absent);
    with `bools`, a bool as 1/0 (like node_exporter's node_network_up), else no series.
    Strings, lists and Structs are no series. An optional Struct field that is None is one
    (`cpu_pressure` None): stored layouts have that key, so it stays."""
    for key, value in zip(keys, astuple(record), strict=True):
        if key is None:
            continue
        if value is None:
            out.append((key, None))
        elif value.__class__ is float:
            out.append((key, value))
        elif isinstance(value, bool):
            if bools:
                out.append((key, 1.0 if value else 0.0))
        elif isinstance(value, (int, float)):
            out.append((key, float(value)))


def _modes(out: list[SeriesValue], name: str, seconds: CpuModeSeconds, labels: Labels = ()) -> None:
    _emit(out, _keys(CpuModeSeconds, name, labels, label="mode"), seconds, bools=False)


def _pressure(out: list[SeriesValue], prefix: str, pressure: Pressure | None) -> None:
    if pressure is None:
        return
    for kind, stall in (("some", pressure.some), ("full", pressure.full)):
        if stall is not None:
            keys = _keys(PressureStall, f"{prefix}_pressure", (("kind", kind),))
            _emit(out, keys, stall, bools=False)


# Fields added after the first payload version are flattened only when present, so that an
# older agent's snapshot keeps exactly the series (and the stored layout) it always had.
_CPU_ADDED = ("forks_total", "boot_time_seconds")
_CPU_FIELDS = frozenset({"seconds_total", "cores", "temperatures", "softirqs_total", *_CPU_ADDED})
_MEMORY_ADDED = (
    "page_faults_total",
    "major_page_faults_total",
    "paged_in_bytes_total",
    "paged_out_bytes_total",
    "oom_kills_total",
)
_CORE_FIELDS = ("utilization_percent", "frequency_hz", "frequency_min_hz", "frequency_max_hz")


def _flatten_cpu(out: list[SeriesValue], cpu: CpuSection) -> None:
    _modes(out, "cpu_seconds_total", cpu.seconds_total)
    _emit(out, _keys(CpuSection, "cpu", skip=_CPU_FIELDS), cpu, bools=False)
    for core in cpu.cores:
        labels = (("cpu", str(core.cpu)),)
        _modes(out, "cpu_core_seconds_total", core.seconds_total, labels)
        utilization, frequency, frequency_min, frequency_max = _core_keys(labels)
        out.append((utilization, _float(core.utilization_percent)))
        if core.frequency_hz is not None:
            out.append((frequency, _float(core.frequency_hz)))
            out.append((frequency_min, _float(core.frequency_min_hz)))
            out.append((frequency_max, _float(core.frequency_max_hz)))
    for temp in cpu.temperatures:
        key = _key("cpu_temperature_celsius", (("sensor", temp.sensor), ("source", temp.source)))
        out.append((key, _float(temp.celsius)))
    _pressure(out, "cpu", cpu.pressure)
    _present(out, "cpu", cpu, _CPU_ADDED)
    if cpu.softirqs_total is not None:
        keys = _keys(Softirqs, "cpu_softirqs_total", label="vector")
        _emit(out, keys, cpu.softirqs_total, bools=False)


def _present(out: list[SeriesValue], prefix: str, record: Struct, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(record, name)
        if value is not None:
            out.append((_key(f"{prefix}_{name}", ()), float(value)))


def _core_keys(labels: Labels) -> tuple[str, str, str, str]:
    keys = _keys(CpuCore, "cpu_core", labels)
    fields = CpuCore.__struct_fields__
    utilization, frequency, frequency_min, frequency_max = (
        keys[fields.index(name)] for name in _CORE_FIELDS
    )
    assert utilization and frequency and frequency_min and frequency_max
    return utilization, frequency, frequency_min, frequency_max


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


_GROUP_FIELDS = frozenset({"name", "cpu_user_seconds_total", "cpu_system_seconds_total"})


def _flatten_processes(out: list[SeriesValue], section: ProcessesSection) -> None:
    """Groups become series; the top-N lists do not (a pid label would make a new series for
    every short-lived process): they travel in the payload for the process tables."""
    out.append(("processes_count", float(section.count)))
    for group in section.groups:
        labels = (("group", group.name),)
        cpu = "process_group_cpu_seconds_total"
        out.append((_key(cpu, (*labels, ("mode", "user"))), float(group.cpu_user_seconds_total)))
        out.append(
            (_key(cpu, (*labels, ("mode", "system"))), float(group.cpu_system_seconds_total))
        )
        _emit(out, _keys(ProcessGroup, "process_group", labels, _GROUP_FIELDS), group, bools=True)


_INTERFACE_LABELS = frozenset({"device", "operstate"})
_NETWORK_FIELDS = frozenset({"interfaces", "tcp_connections_by_state", "netstat", "sockstat"})


def _flatten_network(out: list[SeriesValue], network: NetworkSection) -> None:
    """`network_receive_bytes_total{device="eth0"}`, `network_up{device=...}`,
    `network_tcp_connections{state="ESTABLISHED"}`, `network_tcp_in_use` ..."""
    for interface in network.interfaces:
        labels = (("device", interface.device),)
        _emit(out, _keys(NetworkInterface, "network", labels, _INTERFACE_LABELS), interface, True)
    if network.tcp_connections_by_state is not None:
        for state, count in sorted(network.tcp_connections_by_state.items()):
            out.append((_key("network_tcp_connections", (("state", state),)), float(count)))
    _emit(out, _keys(NetworkSection, "network", skip=_NETWORK_FIELDS), network, bools=False)
    if network.netstat is not None:
        _emit(out, _keys(NetstatCounters, "network_netstat"), network.netstat, bools=False)
    if network.sockstat is not None:
        _emit(out, _keys(SockstatCounts, "network_sockstat"), network.sockstat, bools=False)


_DISK_LABELS = frozenset({"device"})


def _flatten_disk(out: list[SeriesValue], disk: DiskSection) -> None:
    """`disk_read_bytes_total{device="sda"}`, `disk_read_iops{device=...}`,
    `disk_await_seconds{device=...}`, `disk_utilization_percent{device=...}` ..."""
    for device in disk.devices:
        labels = (("device", device.device),)
        _emit(out, _keys(DiskDevice, "disk", labels, _DISK_LABELS), device, bools=True)
    _pressure(out, "io", disk.pressure)


# Records flattened on their own; a None one is no series (older agents never send them).
_MEMORY_FIELDS = frozenset({"detail", *_MEMORY_ADDED})


def flatten_snapshot(snapshot: Snapshot) -> list[SeriesValue]:
    out: list[SeriesValue] = []
    if snapshot.cpu is not None:
        _flatten_cpu(out, snapshot.cpu)
    if snapshot.memory is not None:
        memory_keys = _keys(type(snapshot.memory), "memory", skip=_MEMORY_FIELDS)
        _emit(out, memory_keys, snapshot.memory, bools=False)
        _pressure(out, "memory", snapshot.memory.pressure)
        _present(out, "memory", snapshot.memory, _MEMORY_ADDED)
        if snapshot.memory.detail is not None:
            # The same names as MemorySection's own fields: memory_dirty_bytes, ...
            _emit(out, _keys(MemoryDetail, "memory"), snapshot.memory.detail, bools=False)
    if snapshot.network is not None:
        _flatten_network(out, snapshot.network)
    if snapshot.disk is not None:
        _flatten_disk(out, snapshot.disk)
    if snapshot.processes is not None:
        _flatten_processes(out, snapshot.processes)
    if snapshot.filesystem is not None:
        out.extend(flatten_filesystem(snapshot.filesystem))
    # snapshot.inventory is not flattened: it describes the host, it is not a time series; the
    # pipeline stores it as rows (one per content version) beside the series.
    if snapshot.agent is not None:
        _emit(out, _keys(type(snapshot.agent), "agent"), snapshot.agent, bools=False)
    for status in snapshot.collectors:
        labels = (("collector", status.name),)
        out.append((_key("collector_duration_seconds", labels), float(status.duration_seconds)))
        out.append((_key("collector_success", labels), 1.0 if status.success else 0.0))
    if snapshot.exporters is not None:
        out.extend(flatten_exporters(snapshot.exporters))
    if snapshot.filefd is not None:
        _emit(out, _keys(FileHandlesSection, "filefd"), snapshot.filefd, bools=False)
    return out


_MOUNT_LABELS = frozenset({"device", "mountpoint", "fstype"})


def flatten_filesystem(section: FilesystemSection) -> list[SeriesValue]:
    """`filesystem_<field>{device,fstype,mountpoint}`, as node_exporter's node_filesystem_*;
    flags become 0/1."""
    out: list[SeriesValue] = []
    for mount in section.mounts:
        labels = (
            ("device", mount.device),
            ("fstype", mount.fstype),
            ("mountpoint", mount.mountpoint),
        )
        _emit(out, _keys(FilesystemMount, "filesystem", labels, _MOUNT_LABELS), mount, True)
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
            key = _exporter_key(scrape.name, sample.name, tuple(sample.labels.items()))
            if key in seen:
                continue
            seen.add(key)
            yield key, sample.value if math.isfinite(sample.value) else None


def _exporter_key(target: str, name: str, labels: Labels) -> str:
    cache_key = ("exporter", target, name, labels)
    keys = _KEYS.get(cache_key)
    if keys is None:
        if len(_KEYS) >= _MAX_CACHED_KEYS:
            _KEYS.clear()
        renamed = dict(labels)
        if EXPORTER_LABEL in renamed:
            renamed[_EXPORTED_EXPORTER_LABEL] = renamed.pop(EXPORTER_LABEL)
        keys = _KEYS[cache_key] = (
            series_key(f"exporter_{name}", {**renamed, EXPORTER_LABEL: target}),
        )
    key = keys[0]
    assert key is not None
    return key
