"""Process groups: the top consumers, and which group drove a finding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetscope.report.findings import (
    Fact,
    Finding,
    Plot,
    Row,
    Subsystem,
    fmt,
    fmt_bytes,
    maximum,
    rate,
)
from fleetscope.report.frame import Array, HostFrame, Mask

TOP = 5


@dataclass(frozen=True, slots=True)
class GroupUse:
    name: str
    cpu_cores: Array  # CPUs busy with the group's processes, per instant
    resident_bytes: Array
    io_bytes_per_second: Array


def group_use(frame: HostFrame) -> list[GroupUse]:
    cpu: dict[str, Array] = {}
    for ref in frame.labelled("process_group_cpu_seconds_total"):
        group = ref.labels.get("group", "")
        cpu[group] = cpu.get(group, np.zeros(len(frame))) + np.nan_to_num(ref.values)
    resident = {
        r.labels.get("group", ""): r.values for r in frame.labelled("process_group_resident_bytes")
    }
    io: dict[str, Array] = {}
    for name in ("process_group_read_bytes_total", "process_group_write_bytes_total"):
        for ref in frame.labelled(name):
            group = ref.labels.get("group", "")
            io[group] = np.nansum(
                [io.get(group, np.zeros(len(frame))), rate(ref.values, frame.ts)], axis=0
            )
    empty = np.full(len(frame), np.nan)
    return [
        GroupUse(g, rate(cpu[g], frame.ts), resident.get(g, empty), io.get(g, empty))
        for g in sorted(cpu)
    ]


def _mean(values: Array, mask: Mask | None = None) -> float:
    picked = values if mask is None else values[mask]
    picked = picked[~np.isnan(picked)]
    return float(picked.mean()) if len(picked) else 0.0


def cpu_driver(groups: list[GroupUse], mask: Mask | None) -> str | None:
    """The group that used the most CPU while `mask` held (or over the window)."""
    best = max(groups, key=lambda g: (_mean(g.cpu_cores, mask), g.name), default=None)
    return None if best is None or _mean(best.cpu_cores, mask) == 0 else best.name


def memory_driver(groups: list[GroupUse], ts: Array) -> str | None:
    """The group whose resident memory grew the most from the first to the last tenth."""

    def growth(g: GroupUse) -> float:
        n = max(len(ts) // 10, 1)
        return _mean(g.resident_bytes[-n:]) - _mean(g.resident_bytes[:n])

    best = max(groups, key=lambda g: (growth(g), g.name), default=None)
    return None if best is None or growth(best) <= 0 else best.name


def io_driver(groups: list[GroupUse]) -> str | None:
    best = max(groups, key=lambda g: (_mean(g.io_bytes_per_second), g.name), default=None)
    return None if best is None or _mean(best.io_bytes_per_second) == 0 else best.name


def analyse_processes(frame: HostFrame, groups: list[GroupUse]) -> Subsystem:
    table: list[Row] = [("group", "mean CPUs", "peak CPUs", "peak resident", "mean disk I/O")]
    ranked = sorted(groups, key=lambda g: (-_mean(g.cpu_cores), g.name))[:TOP]
    for g in ranked:
        table.append(
            (
                g.name,
                fmt(_mean(g.cpu_cores), "", 2),
                fmt(maximum(g.cpu_cores), "", 2),
                fmt_bytes(maximum(g.resident_bytes)),
                fmt_bytes(_mean(g.io_bytes_per_second)) + "/s",
            )
        )
    findings = []
    if ranked and _mean(ranked[0].cpu_cores) > 0:
        top = ranked[0]
        findings.append(
            Finding(
                "processes",
                "processes.top_cpu",
                top.name,
                "info",
                f"Top CPU consumer: {top.name}",
                (
                    Fact("mean CPUs busy", fmt(_mean(top.cpu_cores), "", 2)),
                    Fact("peak CPUs busy", fmt(maximum(top.cpu_cores), "", 2)),
                ),
                "Start with this group when the CPU is the bottleneck.",
                driver=top.name,
            )
        )
    plots = []
    if ranked:
        plots.append(
            Plot(
                "CPU by process group (top 5)", "CPUs", tuple((g.name, g.cpu_cores) for g in ranked)
            )
        )
    note = None if groups else "The host reported no process groups."
    return Subsystem("processes", "Process groups", findings, table, plots, note)
