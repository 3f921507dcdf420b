"""One host over one window: findings per subsystem, a fitness score and a status.

The score (docs/analysis.md, "Fitness score"): every finding costs points by its severity
(critical 35, warning 12, info and ok nothing); a subsystem costs at most 60, so one failing
subsystem cannot hide the others; the score is 100 minus the costs, at least 0. The status:
`info` with fewer than `min_snapshots` snapshots (too little to judge), else `success` at 90
and above, `primary` at 75 and above, `warning` at 50 and above, `danger` below. The same
frame and thresholds give the same findings and score: nothing depends on the clock or on
dict order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import msgspec

from fleetscope.report.cpu_memory import analyse_cpu, analyse_memory, cpu_count
from fleetscope.report.findings import SEVERITY_RANK, Fact, Finding, Subsystem, fmt_bytes
from fleetscope.report.frame import Array, HostFrame
from fleetscope.report.io import analyse_disk, analyse_filesystems, analyse_network
from fleetscope.report.processes import analyse_processes, group_use
from fleetscope.report.thresholds import Thresholds

Status = Literal["primary", "success", "warning", "danger", "info"]
PENALTY = {"critical": 35, "warning": 12, "info": 0, "ok": 0}
SUBSYSTEM_CAP = 60
WORST_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Analysis:
    hostname: str
    start: float | None  # epoch seconds of the first and last snapshot
    end: float | None
    snapshots: int
    interval_seconds: float | None
    fit: int
    status: Status
    subsystems: list[Subsystem]
    host_facts: tuple[Fact, ...]
    thresholds: Thresholds
    ts: Array  # the frame's instants, which every plot's lines share

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.subsystems for f in s.findings]

    def worst(self, count: int = WORST_SHOWN) -> list[Finding]:
        """The `count` most severe problems (ok and info left out), most severe first."""
        ranked = [f for f in self.findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK["warning"]]
        ranked.sort(key=lambda f: (-SEVERITY_RANK[f.severity], f.subsystem, f.check, f.resource))
        return ranked[:count]


def score(subsystems: list[Subsystem]) -> int:
    cost = 0
    for subsystem in subsystems:
        cost += min(SUBSYSTEM_CAP, sum(PENALTY[f.severity] for f in subsystem.findings))
    return max(0, 100 - cost)


def status_of(fit: int, snapshots: int, t: Thresholds) -> Status:
    if snapshots < t.min_snapshots:
        return "info"
    if fit >= 90:
        return "success"
    if fit >= 75:
        return "primary"
    return "warning" if fit >= 50 else "danger"


def analyse(
    frame: HostFrame,
    thresholds: Thresholds | None = None,
    progress: Callable[[str], None] | None = None,
) -> Analysis:
    t = thresholds or Thresholds()
    groups = group_use(frame)
    steps: list[tuple[str, Callable[[], Subsystem]]] = [
        ("cpu", lambda: analyse_cpu(frame, t, groups)),
        ("memory", lambda: analyse_memory(frame, t, groups)),
        ("disk", lambda: analyse_disk(frame, t, groups)),
        ("filesystem", lambda: analyse_filesystems(frame, t)),
        ("network", lambda: analyse_network(frame, t)),
        ("processes", lambda: analyse_processes(frame, groups)),
    ]
    subsystems = []
    for name, step in steps:
        if progress is not None:
            progress(name)
        subsystems.append(step())
    n = len(frame)
    fit = score(subsystems) if n >= t.min_snapshots else 0
    return Analysis(
        hostname=frame.hostname,
        start=float(frame.ts[0]) if n else None,
        end=float(frame.ts[-1]) if n else None,
        snapshots=n,
        interval_seconds=frame.interval_seconds,
        fit=fit,
        status=status_of(fit, n, t),
        subsystems=subsystems,
        host_facts=host_facts(frame),
        thresholds=t,
        ts=frame.ts,
    )


def host_facts(frame: HostFrame) -> tuple[Fact, ...]:
    facts = [Fact("host", frame.hostname)]
    inv = frame.inventory
    if inv is not None:
        if inv.os is not None:
            facts.append(Fact("OS", inv.os.pretty_name or inv.os.name or "n/a"))
            facts.append(Fact("kernel", inv.os.kernel or "n/a"))
        if inv.cpu is not None:
            facts.append(
                Fact("CPU", f"{inv.cpu.model or 'n/a'} ({inv.cpu.threads or '?'} threads)")
            )
        if inv.memory_total_bytes is not None:
            facts.append(Fact("memory", fmt_bytes(inv.memory_total_bytes)))
        if inv.dmi is not None and inv.dmi.product_name:
            facts.append(Fact("system", inv.dmi.product_name))
    else:
        cpus = cpu_count(frame)
        if cpus:
            facts.append(Fact("CPUs", str(cpus)))
        total = frame.get("memory_total_bytes")
        if total is not None and len(total):
            facts.append(Fact("memory", fmt_bytes(float(total[-1]))))
    return tuple(facts)


def findings_json(analysis: Analysis) -> list[dict[str, object]]:
    """The findings as the API stores and serves them (problems and passes alike)."""
    out: list[dict[str, object]] = msgspec.to_builtins(analysis.findings)
    return out
