"""The named thresholds every finding is judged by. docs/analysis.md lists each with its default
and where the default comes from; change them by passing another `Thresholds`
(`fleetscope report --thresholds FILE` reads a TOML file of the same names)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Thresholds:
    # How much of the window a condition must hold for to be a warning / critical finding.
    warning_fraction: float = 0.10
    critical_fraction: float = 0.50
    # CPU: busy (neither idle nor iowait) share of all CPUs.
    cpu_busy_percent: float = 90.0
    # CPU saturation: 1-minute load average per logical CPU.
    run_queue_per_cpu: float = 1.0
    cpu_iowait_percent: float = 20.0
    cpu_steal_percent: float = 5.0
    # Imbalance: one CPU at least this busy while the average is at most half of it.
    core_hot_percent: float = 90.0
    # Memory: available below this share of total.
    memory_available_percent: float = 10.0
    # Swapping: pages in plus out, bytes per second.
    swap_bytes_per_second: float = 1_048_576.0
    # A leak: used memory growing by at least this share of total over the window, on a line
    # that explains at least `trend_r2` of the variance.
    memory_growth_percent: float = 10.0
    trend_r2: float = 0.8
    memory_pressure_percent: float = 10.0
    # Disks.
    disk_busy_percent: float = 90.0
    disk_await_ms: float = 50.0
    disk_queue_depth: float = 4.0
    # Filesystems: fill level, and days until full at the fitted rate.
    filesystem_warning_percent: float = 85.0
    filesystem_critical_percent: float = 95.0
    filesystem_days_warning: float = 30.0
    filesystem_days_critical: float = 7.0
    # Networks: throughput against the link speed; carrier changes in the window.
    link_busy_percent: float = 80.0
    link_flaps_warning: int = 3
    link_flaps_critical: int = 10
    network_drops_per_second: float = 1.0
    # Fewer snapshots than this: status `info`, not enough to judge.
    min_snapshots: int = 3

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Thresholds:
        """A TOML table of thresholds; an unknown name or a non-number is an error naming it."""
        known = {f.name: f for f in fields(cls)}
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"thresholds.{name}: unknown threshold ({', '.join(known)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"thresholds.{name}: wanted a number, got {value!r}")
            changes[name] = int(value) if known[name].type == "int" else float(value)
        return replace(cls(), **changes)
