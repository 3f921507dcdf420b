"""How a snapshot becomes named series: the one flattening shared by digest, CSV export and
reports. Names follow Prometheus conventions: units in the name, counters end in _total.

A series key is the metric name plus its labels in Prometheus text form, e.g.
`cpu_core_seconds_total{cpu="0",mode="user"}` (model/series_keys.py). Absent values flatten to
None, never 0.

flatten_columns gives the keys and the values as two lists, which is what digest stores (a
frame's layout and its values); flatten_snapshot pairs them. Building the columns directly
rather than splitting (key, value) pairs saves digest a tuple per value and the split.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from msgspec import Struct
from msgspec.structs import astuple

from fleetscope.model.exporters import ExporterScrape
from fleetscope.model.payload import (
    CpuCore,
    CpuSection,
    DiskSection,
    FilesystemSection,
    NetworkSection,
    Pressure,
    ProcessesSection,
    ProcessGroup,
    Snapshot,
)
from fleetscope.model.series_keys import (
    EXPORTER_LABEL,
    Labels,
    RecordPlan,
    exporter_key,
    one_key,
    record_keys,
    record_plan,
    series_key,
    split_series_key,
)

__all__ = [
    "EXPORTER_LABEL",
    "SeriesValue",
    "flatten_columns",
    "flatten_exporters",
    "flatten_filesystem",
    "flatten_snapshot",
    "series_key",
    "split_series_key",
]

SeriesValue = tuple[str, float | None]
Keys = list[str]
Values = list[float | None]


def _emit(
    keys: Keys,
    values: Values,
    record: Struct,
    name: str,
    labels: Labels = (),
    *,
    skip: frozenset[str] = frozenset(),
    label: str | None = None,
    bools: bool = False,
) -> None:
    """The fields of `record` but `skip` (model/series_keys.py record_keys names them): numbers
    as floats, None as None (absent); with `bools`, a bool as 1/0 (like node_exporter's
    node_network_up), else no series. Strings, lists and Structs are no series. An optional
    Struct field that is None is one (`cpu_pressure` None): stored layouts have that key, so
    it stays."""
    plan = record_plan(type(record), name, labels, skip, label, bools)
    if plan.numeric:
        keys.extend(plan.keys)
        values.extend([None if v is None else float(v) for v in plan.read(record)])
        return
    for key, value in zip(plan.fields, astuple(record), strict=True):
        if key is None:
            continue
        if value is None:
            keys.append(key)
            values.append(None)
        elif value.__class__ is float:
            keys.append(key)
            values.append(value)
        elif isinstance(value, bool):
            if bools:
                keys.append(key)
                values.append(1.0 if value else 0.0)
        elif isinstance(value, (int, float)):
            keys.append(key)
            values.append(float(value))


def _pressure(keys: Keys, values: Values, prefix: str, pressure: Pressure | None) -> None:
    if pressure is None:
        return
    for kind, stall in (("some", pressure.some), ("full", pressure.full)):
        if stall is not None:
            _emit(keys, values, stall, f"{prefix}_pressure", (("kind", kind),))


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


def _flatten_cpu(keys: Keys, values: Values, cpu: CpuSection) -> None:
    _emit(keys, values, cpu.seconds_total, "cpu_seconds_total", label="mode")
    _emit(keys, values, cpu, "cpu", skip=_CPU_FIELDS)
    for core in cpu.cores:
        labels = (("cpu", str(core.cpu)),)
        _emit(keys, values, core.seconds_total, "cpu_core_seconds_total", labels, label="mode")
        utilization, frequency, frequency_min, frequency_max = _core_keys(labels)
        keys.append(utilization)
        values.append(_float(core.utilization_percent))
        if core.frequency_hz is not None:
            keys.extend((frequency, frequency_min, frequency_max))
            values.append(_float(core.frequency_hz))
            values.append(_float(core.frequency_min_hz))
            values.append(_float(core.frequency_max_hz))
    for temp in cpu.temperatures:
        keys.append(
            one_key("cpu_temperature_celsius", (("sensor", temp.sensor), ("source", temp.source)))
        )
        values.append(_float(temp.celsius))
    _pressure(keys, values, "cpu", cpu.pressure)
    _present(keys, values, "cpu", cpu, _CPU_ADDED)
    if cpu.softirqs_total is not None:
        _emit(keys, values, cpu.softirqs_total, "cpu_softirqs_total", label="vector")


def _present(
    keys: Keys, values: Values, prefix: str, record: Struct, names: tuple[str, ...]
) -> None:
    for name in names:
        value = getattr(record, name)
        if value is not None:
            keys.append(one_key(f"{prefix}_{name}", ()))
            values.append(float(value))


def _core_keys(labels: Labels) -> tuple[str, str, str, str]:
    keys = record_keys(CpuCore, "cpu_core", labels)
    fields = CpuCore.__struct_fields__
    utilization, frequency, frequency_min, frequency_max = (
        keys[fields.index(name)] for name in _CORE_FIELDS
    )
    assert utilization and frequency and frequency_min and frequency_max
    return utilization, frequency, frequency_min, frequency_max


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


_GROUP_FIELDS = frozenset({"name", "cpu_user_seconds_total", "cpu_system_seconds_total"})
_GROUP_CPU = "process_group_cpu_seconds_total"
# A group's keys (its two CPU modes, then its fields) and its plan, by record type and name: a
# payload carries tens of groups, and looking their keys up one by one cost more than the rest
# of their flattening. Cleared when full, as the keys are (group names are not bounded).
_GROUPS: dict[tuple[type, str], tuple[tuple[str, ...], RecordPlan]] = {}
_MAX_CACHED_GROUPS = 50_000


def _group_keys(group: ProcessGroup) -> tuple[tuple[str, ...], RecordPlan]:
    cache_key = (type(group), group.name)
    found = _GROUPS.get(cache_key)
    if found is None:
        if len(_GROUPS) >= _MAX_CACHED_GROUPS:
            _GROUPS.clear()
        labels = (("group", group.name),)
        plan = record_plan(type(group), "process_group", labels, _GROUP_FIELDS, None, True)
        cpu = (
            one_key(_GROUP_CPU, (*labels, ("mode", "user"))),
            one_key(_GROUP_CPU, (*labels, ("mode", "system"))),
        )
        found = _GROUPS[cache_key] = (cpu + plan.keys, plan)
    return found


def _flatten_processes(keys: Keys, values: Values, section: ProcessesSection) -> None:
    """Groups become series; the top-N lists do not (a pid label would make a new series for
    every short-lived process): they travel in the payload for the process tables."""
    keys.append("processes_count")
    values.append(float(section.count))
    for group in section.groups:
        group_keys, plan = _group_keys(group)
        values.append(float(group.cpu_user_seconds_total))
        values.append(float(group.cpu_system_seconds_total))
        if plan.numeric:
            keys.extend(group_keys)
            values.extend([None if v is None else float(v) for v in plan.read(group)])
        else:
            keys.extend(group_keys[:2])
            labels = (("group", group.name),)
            _emit(keys, values, group, "process_group", labels, skip=_GROUP_FIELDS, bools=True)


_INTERFACE_LABELS = frozenset({"device", "operstate"})
_NETWORK_FIELDS = frozenset({"interfaces", "tcp_connections_by_state", "netstat", "sockstat"})


def _flatten_network(keys: Keys, values: Values, network: NetworkSection) -> None:
    """`network_receive_bytes_total{device="eth0"}`, `network_up{device=...}`,
    `network_tcp_connections{state="ESTABLISHED"}`, `network_tcp_in_use` ..."""
    for interface in network.interfaces:
        labels = (("device", interface.device),)
        _emit(keys, values, interface, "network", labels, skip=_INTERFACE_LABELS, bools=True)
    if network.tcp_connections_by_state is not None:
        for state, count in sorted(network.tcp_connections_by_state.items()):
            keys.append(one_key("network_tcp_connections", (("state", state),)))
            values.append(float(count))
    _emit(keys, values, network, "network", skip=_NETWORK_FIELDS)
    if network.netstat is not None:
        _emit(keys, values, network.netstat, "network_netstat")
    if network.sockstat is not None:
        _emit(keys, values, network.sockstat, "network_sockstat")


_DISK_LABELS = frozenset({"device"})


def _flatten_disk(keys: Keys, values: Values, disk: DiskSection) -> None:
    """`disk_read_bytes_total{device="sda"}`, `disk_read_iops{device=...}`,
    `disk_await_seconds{device=...}`, `disk_utilization_percent{device=...}` ..."""
    for device in disk.devices:
        _emit(
            keys,
            values,
            device,
            "disk",
            (("device", device.device),),
            skip=_DISK_LABELS,
            bools=True,
        )
    _pressure(keys, values, "io", disk.pressure)


# Records flattened on their own; a None one is no series (older agents never send them).
_MEMORY_FIELDS = frozenset({"detail", *_MEMORY_ADDED})


def flatten_columns(snapshot: Snapshot) -> tuple[Keys, Values]:
    """The snapshot's series keys and their values, aligned, in the order digest stores them."""
    keys: Keys = []
    values: Values = []
    if snapshot.cpu is not None:
        _flatten_cpu(keys, values, snapshot.cpu)
    if (memory := snapshot.memory) is not None:
        _emit(keys, values, memory, "memory", skip=_MEMORY_FIELDS)
        _pressure(keys, values, "memory", memory.pressure)
        _present(keys, values, "memory", memory, _MEMORY_ADDED)
        if memory.detail is not None:
            # The same names as MemorySection's own fields: memory_dirty_bytes, ...
            _emit(keys, values, memory.detail, "memory")
    if snapshot.network is not None:
        _flatten_network(keys, values, snapshot.network)
    if snapshot.disk is not None:
        _flatten_disk(keys, values, snapshot.disk)
    if snapshot.processes is not None:
        _flatten_processes(keys, values, snapshot.processes)
    if snapshot.filesystem is not None:
        _flatten_filesystem(keys, values, snapshot.filesystem)
    # snapshot.inventory is not flattened: it describes the host, it is not a time series; the
    # pipeline stores it as rows (one per content version) beside the series.
    if snapshot.agent is not None:
        _emit(keys, values, snapshot.agent, "agent")
    for status in snapshot.collectors:
        labels = (("collector", status.name),)
        keys.append(one_key("collector_duration_seconds", labels))
        keys.append(one_key("collector_success", labels))
        values.append(float(status.duration_seconds))
        values.append(1.0 if status.success else 0.0)
    if snapshot.exporters is not None:
        for key, value in flatten_exporters(snapshot.exporters):
            keys.append(key)
            values.append(value)
    if snapshot.filefd is not None:
        _emit(keys, values, snapshot.filefd, "filefd")
    return keys, values


def flatten_snapshot(snapshot: Snapshot) -> list[SeriesValue]:
    """flatten_columns as (key, value) pairs."""
    keys, values = flatten_columns(snapshot)
    return list(zip(keys, values, strict=True))


_MOUNT_LABELS = frozenset({"device", "mountpoint", "fstype"})


def _flatten_filesystem(keys: Keys, values: Values, section: FilesystemSection) -> None:
    for mount in section.mounts:
        labels = (
            ("device", mount.device),
            ("fstype", mount.fstype),
            ("mountpoint", mount.mountpoint),
        )
        _emit(keys, values, mount, "filesystem", labels, skip=_MOUNT_LABELS, bools=True)


def flatten_filesystem(section: FilesystemSection) -> list[SeriesValue]:
    """`filesystem_<field>{device,fstype,mountpoint}`, as node_exporter's node_filesystem_*;
    flags become 0/1."""
    keys: Keys = []
    values: Values = []
    _flatten_filesystem(keys, values, section)
    return list(zip(keys, values, strict=True))


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
            key = exporter_key(scrape.name, sample.name, tuple(sample.labels.items()))
            if key in seen:
                continue
            seen.add(key)
            yield key, sample.value if math.isfinite(sample.value) else None
