"""What the host page draws: every chart of one host over a range, derived here once (rates from
counters, CPU modes as percentages, filesystem fill and its trend) so that the page, its live
updates and any other reader get the same numbers.

One range scan reads every series the charts need (MetricQueries.series, which picks the tier
by the range); the rest is arithmetic on the points (query/points.py: counter rates, fill
trends, combinations).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from fleetscope.query.metrics import MetricQueries, Point, Series
from fleetscope.query.points import (
    FillTrend,
    SeriesIndex,
    aligned,
    combine,
    counter_rate,
    fill_trend,
    mean,
)

# The tests and the page's other readers take the point rules from here too.
__all__ = [
    "CHART_METRICS",
    "TOP_GROUPS",
    "Chart",
    "ChartQueries",
    "ChartSet",
    "FillTrend",
    "Line",
    "charts_of",
    "counter_rate",
    "fill_trend",
]

Unit = Literal[
    "percent", "bytes", "bytes_per_second", "per_second", "seconds", "count", "celsius", "hertz"
]
Kind = Literal["line", "stacked", "heatmap"]

# Every metric a chart reads: passed to the range scan so nothing else is decoded.
CHART_METRICS = frozenset(
    {
        "cpu_seconds_total",
        "cpu_utilization_percent",
        "cpu_core_utilization_percent",
        "cpu_core_frequency_hz",
        "cpu_temperature_celsius",
        "cpu_load1",
        "cpu_load5",
        "cpu_load15",
        "cpu_procs_running",
        "cpu_procs_blocked",
        "memory_total_bytes",
        "memory_used_bytes",
        "memory_available_bytes",
        "memory_cached_bytes",
        "memory_buffers_bytes",
        "memory_swap_used_bytes",
        "memory_hugepages_total",
        "memory_hugepages_free",
        "memory_hugepage_size_bytes",
        "network_receive_bytes_per_second",
        "network_transmit_bytes_per_second",
        "network_receive_errors_per_second",
        "network_transmit_errors_per_second",
        "network_receive_drops_per_second",
        "network_transmit_drops_per_second",
        "network_tcp_connections",
        "disk_read_iops",
        "disk_write_iops",
        "disk_read_bytes_per_second",
        "disk_written_bytes_per_second",
        "disk_read_await_seconds",
        "disk_write_await_seconds",
        "disk_utilization_percent",
        "filesystem_used_bytes",
        "filesystem_avail_bytes",
        "process_group_cpu_seconds_total",
        "process_group_resident_bytes",
    }
)
# /proc/stat counts guest time inside user and nice already (kernel Documentation/filesystems/
# proc.rst), so adding guest again would count it twice.
_NOT_IN_TOTAL = frozenset({"guest", "guest_nice"})
_STACKED_MODES = ("user", "system", "iowait", "steal")
_OTHER_MODES = frozenset({"nice", "irq", "softirq"})
LOOPBACK = "lo"
TOP_GROUPS = 8


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    values: list[float | None]


@dataclass(frozen=True, slots=True)
class Chart:
    key: str  # stable id the page keeps a chart under, e.g. "cpu" or "disk_io:sda"
    title: str
    unit: Unit
    kind: Kind
    times: list[float]  # unix seconds, shared by every line
    lines: list[Line]


@dataclass(frozen=True, slots=True)
class ChartSet:
    tier: str
    step_seconds: float | None
    charts: list[Chart]
    filesystems: list[FillTrend]


def _chart(
    key: str, title: str, unit: Unit, kind: Kind, lines: Iterable[tuple[str, Sequence[Point]]]
) -> Chart | None:
    times, columns = aligned(lines)
    drawn = [Line(label, values) for label, values in columns]
    if not drawn or all(v is None for line in drawn for v in line.values):
        return None  # no data for it in this range: the page shows no empty chart
    return Chart(key, title, unit, kind, times, drawn)


def cpu_charts(index: SeriesIndex) -> list[Chart | None]:
    rates = {mode: counter_rate(p) for mode, p in index.by("cpu_seconds_total", "mode").items()}
    total = combine([p for m, p in rates.items() if m not in _NOT_IN_TOTAL], sum)
    totals = dict(total)

    def share(points: Sequence[Point]) -> list[Point]:
        out: list[Point] = []
        for t, value in points:
            whole = totals.get(t)
            out.append((t, None if value is None or not whole else 100 * value / whole))
        return out

    modes = [(mode, share(rates[mode])) for mode in _STACKED_MODES if mode in rates]
    other = [rates[m] for m in sorted(_OTHER_MODES) if m in rates]
    if other:
        modes.append(("other", share(combine(other, sum))))
    cores = index.by("cpu_core_utilization_percent", "cpu")
    frequency = list(index.by("cpu_core_frequency_hz", "cpu").values())
    temperatures = index.by("cpu_temperature_celsius", "sensor")
    by_mode = _chart("cpu", "CPU by mode", "percent", "stacked", modes)
    if by_mode is None:  # no mode counters that moved (a device, or rollups of one sample)
        by_mode = _chart(
            "cpu", "CPU", "percent", "line", [("busy", index.one("cpu_utilization_percent"))]
        )
    return [
        by_mode,
        _chart(
            "cpu_cores",
            "CPU per core",
            "percent",
            "heatmap",
            sorted(cores.items(), key=lambda item: int(item[0]) if item[0].isdigit() else -1),
        ),
        _chart(
            "cpu_frequency",
            "CPU frequency",
            "hertz",
            "line",
            [("mean", combine(frequency, mean)), ("max", combine(frequency, max))],
        )
        if frequency
        else None,
        _chart("temperatures", "Temperatures", "celsius", "line", sorted(temperatures.items())),
        _chart(
            "load",
            "Load and run queue",
            "count",
            "line",
            [
                ("load 1 min", index.one("cpu_load1")),
                ("load 5 min", index.one("cpu_load5")),
                ("load 15 min", index.one("cpu_load15")),
                ("running", index.one("cpu_procs_running")),
                ("blocked", index.one("cpu_procs_blocked")),
                ("cores", [(t, float(len(cores))) for t, _ in index.one("cpu_load1")])
                if cores
                else ("cores", []),
            ],
        ),
    ]


def memory_charts(index: SeriesIndex) -> list[Chart | None]:
    lines = [
        ("used", index.one("memory_used_bytes")),
        ("cached", index.one("memory_cached_bytes")),
        ("buffers", index.one("memory_buffers_bytes")),
        ("available", index.one("memory_available_bytes")),
        ("swap used", index.one("memory_swap_used_bytes")),
    ]
    charts = [_chart("memory", "Memory", "bytes", "line", lines)]
    total = index.one("memory_hugepages_total")
    if any(v for _, v in total):  # configured: the kernel reports 0 pages otherwise
        free = {t: v for t, v in index.one("memory_hugepages_free") if v is not None}
        size = {t: v for t, v in index.one("memory_hugepage_size_bytes") if v is not None}
        used: list[Point] = []
        sized: list[Point] = []
        for t, pages in total:
            if pages is None or t not in size:
                used.append((t, None))
                sized.append((t, None))
                continue
            used.append((t, (pages - free[t]) * size[t] if t in free else None))
            sized.append((t, pages * size[t]))
        charts.append(
            _chart("hugepages", "Huge pages", "bytes", "line", [("used", used), ("total", sized)])
        )
    return charts


def network_charts(index: SeriesIndex) -> list[Chart | None]:
    charts: list[Chart | None] = []
    receive = index.by("network_receive_bytes_per_second", "device")
    transmit = index.by("network_transmit_bytes_per_second", "device")
    problems = {
        label: index.by(name, "device")
        for label, name in (
            ("receive errors", "network_receive_errors_per_second"),
            ("transmit errors", "network_transmit_errors_per_second"),
            ("receive drops", "network_receive_drops_per_second"),
            ("transmit drops", "network_transmit_drops_per_second"),
        )
    }
    for device in sorted(set(receive) | set(transmit)):
        if device == LOOPBACK:
            continue
        charts.append(
            _chart(
                f"net:{device}",
                f"Network {device}",
                "bytes_per_second",
                "line",
                [("receive", receive.get(device, [])), ("transmit", transmit.get(device, []))],
            )
        )
        errors = [(label, by_device.get(device, [])) for label, by_device in problems.items()]
        if any(v for _, points in errors for _, v in points):  # all zero: nothing to draw
            charts.append(
                _chart(
                    f"net_errors:{device}",
                    f"Errors and drops {device}",
                    "per_second",
                    "line",
                    errors,
                )
            )
    states = index.by("network_tcp_connections", "state")
    charts.append(
        _chart("tcp", "TCP connections by state", "count", "line", sorted(states.items()))
    )
    return charts


def disk_charts(index: SeriesIndex) -> list[Chart | None]:
    charts: list[Chart | None] = []
    read_iops = index.by("disk_read_iops", "device")
    write_iops = index.by("disk_write_iops", "device")
    read_bytes = index.by("disk_read_bytes_per_second", "device")
    written = index.by("disk_written_bytes_per_second", "device")
    read_await = index.by("disk_read_await_seconds", "device")
    write_await = index.by("disk_write_await_seconds", "device")
    utilization = index.by("disk_utilization_percent", "device")
    devices = set(read_iops) | set(read_bytes) | set(utilization)
    for device in sorted(devices):
        charts += [
            _chart(
                f"disk_iops:{device}",
                f"{device} IOPS",
                "per_second",
                "line",
                [("read", read_iops.get(device, [])), ("write", write_iops.get(device, []))],
            ),
            _chart(
                f"disk_bytes:{device}",
                f"{device} throughput",
                "bytes_per_second",
                "line",
                [("read", read_bytes.get(device, [])), ("write", written.get(device, []))],
            ),
            _chart(
                f"disk_await:{device}",
                f"{device} await",
                "seconds",
                "line",
                [("read", read_await.get(device, [])), ("write", write_await.get(device, []))],
            ),
            _chart(
                f"disk_util:{device}",
                f"{device} utilisation",
                "percent",
                "line",
                [("busy", utilization.get(device, []))],
            ),
        ]
    return charts


def filesystem_charts(index: SeriesIndex) -> tuple[list[Chart | None], list[FillTrend]]:
    used = index.by("filesystem_used_bytes", "mountpoint")
    avail = index.by("filesystem_avail_bytes", "mountpoint")
    lines = []
    trends = []
    for mount in sorted(used):
        free = dict(avail.get(mount, []))
        percent = []
        for t, u in used[mount]:
            a = free.get(t)
            whole = None if u is None or a is None else u + a
            percent.append((t, None if not whole else 100 * (u or 0) / whole))
        lines.append((mount, percent))
        trends.append(fill_trend(mount, used[mount], avail.get(mount, [])))
    return [_chart("filesystems", "Filesystems used", "percent", "line", lines)], trends


def process_charts(index: SeriesIndex, groups: Sequence[str]) -> list[Chart | None]:
    """The named groups' CPU (user + system, as % of one core) stacked, and their resident
    memory; the groups are the range's top consumers, chosen by the caller."""
    cpu_by_group: dict[str, list[list[Point]]] = {}
    for s in index.by_name.get("process_group_cpu_seconds_total", []):
        cpu_by_group.setdefault(s.labels.get("group", ""), []).append(counter_rate(s.points))
    memory = index.by("process_group_resident_bytes", "group")
    cpu_lines = [
        (g, [(t, 100 * v) for t, v in combine(cpu_by_group[g], sum)])
        for g in groups
        if g in cpu_by_group
    ]
    return [
        _chart(
            "process_cpu",
            "Top process groups: CPU (% of one core)",
            "percent",
            "stacked",
            cpu_lines,
        ),
        _chart(
            "process_memory",
            "Top process groups: resident memory",
            "bytes",
            "stacked",
            [(g, memory[g]) for g in groups if g in memory],
        ),
    ]


def group_history(series: Sequence[Series], group: str) -> list[Chart | None]:
    """One process group's own CPU and memory over the range."""
    index = SeriesIndex(s for s in series if s.labels.get("group") == group)
    cpu = [counter_rate(s.points) for s in index.by_name.get("process_group_cpu_seconds_total", [])]
    return [
        _chart(
            f"group_cpu:{group}",
            f"{group}: CPU (% of one core)",
            "percent",
            "line",
            [("cpu", [(t, 100 * v) for t, v in combine(cpu, sum)])],
        ),
        _chart(
            f"group_memory:{group}",
            f"{group}: resident memory",
            "bytes",
            "line",
            [("resident", index.one("process_group_resident_bytes"))],
        ),
    ]


def charts_of(
    series: Sequence[Series], top_groups: Sequence[str]
) -> tuple[list[Chart], list[FillTrend]]:
    """Every chart with data, in the page's order, and each filesystem's fill trend."""
    index = SeriesIndex(series)
    filesystems, trends = filesystem_charts(index)
    found: list[Chart | None] = [
        *cpu_charts(index),
        *memory_charts(index),
        *network_charts(index),
        *disk_charts(index),
        *filesystems,
        *process_charts(index, top_groups),
    ]
    return [c for c in found if c is not None], trends


class ChartQueries:
    def __init__(self, metrics: MetricQueries) -> None:
        self.metrics = metrics

    def host(
        self,
        tenant_id: int,
        host_id: int,
        start_ms: int,
        end_ms: int,
        *,
        top_groups: Sequence[str] = (),
        group: str | None = None,
    ) -> ChartSet:
        found = self.metrics.series(tenant_id, host_id, start_ms, end_ms, CHART_METRICS)
        step = None if found.step_ms is None else found.step_ms / 1000
        if group is not None:
            charts = [c for c in group_history(found.series, group) if c is not None]
            return ChartSet(found.tier, step, charts, [])
        charts, trends = charts_of(found.series, top_groups[:TOP_GROUPS])
        return ChartSet(found.tier, step, charts, trends)
