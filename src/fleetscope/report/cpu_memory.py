"""CPU and memory checks, along the USE method (utilisation, saturation, errors)."""

from __future__ import annotations

import numpy as np

from fleetscope.report.findings import (
    Fact,
    Finding,
    Plot,
    Row,
    Subsystem,
    by_share,
    fmt,
    fmt_bytes,
    fmt_share,
    maximum,
    percentile,
    rate,
    share_above,
    trend,
    window,
)
from fleetscope.report.frame import Array, HostFrame
from fleetscope.report.processes import GroupUse, cpu_driver, memory_driver
from fleetscope.report.thresholds import Thresholds

# guest and guest_nice are inside user and nice already (kernel/sched/cputime.c).
_SUMMED = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _mode_rates(frame: HostFrame, name: str, labels: dict[str, str]) -> dict[str, Array]:
    out: dict[str, Array] = {}
    for ref in frame.labelled(name):
        rest = {k: v for k, v in ref.labels.items() if k != "mode"}
        if rest == labels and ref.labels.get("mode") in _SUMMED:
            out[ref.labels["mode"]] = rate(ref.values, frame.ts)
    return out


def _shares(modes: dict[str, Array]) -> tuple[Array, Array, Array] | None:
    """Busy, iowait and steal as percentages of all CPU time."""
    if "idle" not in modes:
        return None
    total = np.nansum(np.vstack(list(modes.values())), axis=0)
    total[np.isnan(modes["idle"])] = np.nan
    zero = np.zeros_like(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        idle = modes["idle"] / total * 100
        iowait = np.nan_to_num(modes.get("iowait", zero)) / total * 100
        steal = np.nan_to_num(modes.get("steal", zero)) / total * 100
    return 100 - idle - iowait, iowait, steal


def cpu_count(frame: HostFrame) -> int | None:
    cores = {r.labels.get("cpu") for r in frame.labelled("cpu_core_seconds_total")}
    if cores:
        return len(cores)
    if frame.inventory is not None and frame.inventory.cpu is not None:
        return frame.inventory.cpu.threads
    return None


def analyse_cpu(frame: HostFrame, t: Thresholds, groups: list[GroupUse]) -> Subsystem:
    ts = frame.ts
    shares = _shares(_mode_rates(frame, "cpu_seconds_total", {}))
    if shares is None:
        return Subsystem("cpu", "CPU", [], [], [], "The host reported no CPU times.")
    busy, iowait, steal = shares
    cpus = cpu_count(frame)
    findings: list[Finding] = []

    share = share_above(busy, t.cpu_busy_percent)
    mask = busy > t.cpu_busy_percent
    findings.append(
        Finding(
            "cpu",
            "cpu.utilization",
            "all CPUs",
            by_share(share, t),
            f"CPU busy above {t.cpu_busy_percent:g} % for {fmt_share(share)}",
            (
                Fact("p50 busy", fmt(percentile(busy, 50), " %")),
                Fact("p95 busy", fmt(percentile(busy, 95), " %")),
                Fact(f"time above {t.cpu_busy_percent:g} %", fmt_share(share)),
            ),
            "Move work off this host, add CPUs, or profile the driving process group.",
            *window(ts, mask),
            driver=cpu_driver(groups, mask) if share > 0 else None,
        )
    )
    load = frame.get("cpu_load1")
    load_label = "load1"
    if load is None:
        load, load_label = frame.get("cpu_procs_running"), "runnable tasks"
    per_cpu = None
    if load is not None and cpus:
        per_cpu = load / cpus
        share = share_above(per_cpu, t.run_queue_per_cpu)
        mask = per_cpu > t.run_queue_per_cpu
        findings.append(
            Finding(
                "cpu",
                "cpu.saturation",
                "run queue",
                by_share(share, t),
                f"Run queue ({load_label}) above {t.run_queue_per_cpu:g} per CPU"
                f" for {fmt_share(share)}",
                (
                    Fact("CPUs", str(cpus)),
                    Fact(f"p95 {load_label}", fmt(percentile(load, 95), "", 2)),
                    Fact(f"max {load_label} per CPU", fmt(maximum(per_cpu), "", 2)),
                ),
                "Tasks wait for a CPU: reduce concurrency or add CPUs.",
                *window(ts, mask),
                driver=cpu_driver(groups, mask) if share > 0 else None,
            )
        )
    for check, values, limit, what, advice in (
        (
            "cpu.iowait",
            iowait,
            t.cpu_iowait_percent,
            "iowait",
            "CPUs idle waiting on disk: see the disk page.",
        ),
        (
            "cpu.steal",
            steal,
            t.cpu_steal_percent,
            "steal",
            "The hypervisor gives this VM's CPU time to others: move it or resize.",
        ),
    ):
        share = share_above(values, limit)
        findings.append(
            Finding(
                "cpu",
                check,
                "all CPUs",
                by_share(share, t),
                f"{what} above {limit:g} % for {fmt_share(share)}",
                (
                    Fact(f"p95 {what}", fmt(percentile(values, 95), " %")),
                    Fact(f"max {what}", fmt(maximum(values), " %")),
                ),
                advice,
                *window(ts, values > limit),
            )
        )
    core_busy = _core_busy(frame)
    if len(core_busy) > 1:
        # A column with no value anywhere (the first instant) would make nanmax warn.
        stack = np.nan_to_num(np.vstack(core_busy), nan=0.0)
        hottest = stack.max(axis=0)
        mean = stack.mean(axis=0)
        mask = (hottest >= t.core_hot_percent) & (mean <= t.core_hot_percent / 2)
        share = float(mask.mean())
        findings.append(
            Finding(
                "cpu",
                "cpu.imbalance",
                "per CPU",
                by_share(share, t),
                f"One CPU at {t.core_hot_percent:g} % while the average was at most half of it, "
                f"for {fmt_share(share)}",
                (Fact("time imbalanced", fmt_share(share)), Fact("CPUs", str(len(core_busy)))),
                "A single-threaded bottleneck: parallelise the work or spread interrupts.",
                *window(ts, mask),
                driver=cpu_driver(groups, mask) if share > 0 else None,
            )
        )
    table: list[Row] = [("measure", "p50", "p95", "max")]
    for label, values in (("busy %", busy), ("iowait %", iowait), ("steal %", steal)):
        table.append(
            (label, fmt(percentile(values, 50)), fmt(percentile(values, 95)), fmt(maximum(values)))
        )
    plots = [
        Plot(
            "CPU time",
            "%",
            (("busy", busy), ("iowait", iowait), ("steal", steal)),
            t.cpu_busy_percent,
        )
    ]
    if per_cpu is not None:
        table.append(
            (
                f"{load_label} per CPU",
                fmt(percentile(per_cpu, 50), "", 2),
                fmt(percentile(per_cpu, 95), "", 2),
                fmt(maximum(per_cpu), "", 2),
            )
        )
        plots.append(
            Plot(
                f"Run queue ({load_label}) per CPU",
                "tasks per CPU",
                (("per CPU", per_cpu),),
                t.run_queue_per_cpu,
            )
        )
    return Subsystem("cpu", "CPU", findings, table, plots)


def _core_busy(frame: HostFrame) -> list[Array]:
    cores = sorted({r.labels["cpu"] for r in frame.labelled("cpu_core_seconds_total")}, key=int)
    out = []
    for cpu in cores:
        shares = _shares(_mode_rates(frame, "cpu_core_seconds_total", {"cpu": cpu}))
        if shares is not None:
            out.append(shares[0])
    return out


def analyse_memory(frame: HostFrame, t: Thresholds, groups: list[GroupUse]) -> Subsystem:
    ts = frame.ts
    total, used = frame.get("memory_total_bytes"), frame.get("memory_used_bytes")
    if total is None or used is None:
        return Subsystem("memory", "Memory", [], [], [], "The host reported no memory figures.")
    available = frame.get("memory_available_bytes")
    if available is None:
        available = total - used
    with np.errstate(divide="ignore", invalid="ignore"):
        available_pct = available / total * 100
        used_pct = used / total * 100
    findings: list[Finding] = []
    share = float(np.mean(available_pct < t.memory_available_percent)) if len(ts) else 0.0
    findings.append(
        Finding(
            "memory",
            "memory.available",
            "RAM",
            by_share(share, t),
            f"Available memory below {t.memory_available_percent:g} % for {fmt_share(share)}",
            (
                Fact("total", fmt_bytes(maximum(total))),
                Fact("min available", fmt_bytes(percentile(available, 0))),
                Fact("p95 used", fmt(percentile(used_pct, 95), " %")),
            ),
            "Add memory or cap the largest consumers.",
            *window(ts, available_pct < t.memory_available_percent),
            driver=memory_driver(groups, ts) if share > 0 else None,
        )
    )
    swap = _swap_rate(frame)
    swap_used = frame.get("memory_swap_used_bytes")
    if swap is not None:
        share = share_above(swap, t.swap_bytes_per_second)
        findings.append(
            Finding(
                "memory",
                "memory.swapping",
                "swap",
                by_share(share, t),
                f"Swapping above {fmt_bytes(t.swap_bytes_per_second)}/s for {fmt_share(share)}",
                (
                    Fact("p95 swap in+out", fmt_bytes(percentile(swap, 95)) + "/s"),
                    Fact(
                        "peak swap used",
                        fmt_bytes(maximum(swap_used) if swap_used is not None else None),
                    ),
                ),
                "The working set does not fit in RAM: add memory or find the growing process.",
                *window(ts, swap > t.swap_bytes_per_second),
                driver=memory_driver(groups, ts) if share > 0 else None,
            )
        )
    fit = trend(ts, used)
    if fit is not None and len(ts) > 1:
        slope, r2 = fit
        span = float(ts[-1] - ts[0])
        growth_pct = slope * span / float(np.nanmax(total)) * 100
        leaking = growth_pct >= t.memory_growth_percent and r2 >= t.trend_r2
        swapping = swap is not None and share_above(swap, t.swap_bytes_per_second) > 0
        findings.append(
            Finding(
                "memory",
                "memory.growth",
                "RAM",
                ("critical" if swapping else "warning") if leaking else "ok",
                f"Used memory grew {growth_pct:.1f} % of RAM over the window (r² {r2:.2f})",
                (
                    Fact("growth rate", fmt_bytes(slope * 3600) + "/h"),
                    Fact("fit r²", f"{r2:.2f}"),
                    Fact("growth over window", fmt(growth_pct, " % of RAM")),
                ),
                "A steady climb is a leak until shown otherwise: restart or fix the growing group.",
                float(ts[0]) if leaking else None,
                float(ts[-1]) if leaking else None,
                driver=memory_driver(groups, ts) if leaking else None,
            )
        )
    pressure = frame.get('memory_pressure_avg10_percent{kind="some"}')
    plots = [
        Plot("Memory used", "% of RAM", (("used", used_pct),), 100 - t.memory_available_percent)
    ]
    table: list[Row] = [("measure", "p50", "p95", "max")]
    table.append(
        (
            "used %",
            fmt(percentile(used_pct, 50)),
            fmt(percentile(used_pct, 95)),
            fmt(maximum(used_pct)),
        )
    )
    if pressure is not None:
        share = share_above(pressure, t.memory_pressure_percent)
        findings.append(
            Finding(
                "memory",
                "memory.pressure",
                "RAM",
                by_share(share, t),
                f"Tasks stalled on memory (PSI some avg10 > {t.memory_pressure_percent:g} %)"
                f" for {fmt_share(share)}",
                (Fact("p95 stall", fmt(percentile(pressure, 95), " %")),),
                "Reclaim is slowing tasks down: add memory or reduce the working set.",
                *window(ts, pressure > t.memory_pressure_percent),
            )
        )
    if swap is not None:
        table.append(
            (
                "swap in+out B/s",
                fmt(percentile(swap, 50), "", 0),
                fmt(percentile(swap, 95), "", 0),
                fmt(maximum(swap), "", 0),
            )
        )
    if swap_used is not None:
        plots.append(Plot("Swap used", "GiB", (("swap used", swap_used / 2**30),)))
    note = "Major faults and OOM kills are not collected by the agent yet; not judged."
    return Subsystem("memory", "Memory", findings, table, plots, note)


def _swap_rate(frame: HostFrame) -> Array | None:
    swap_in, swap_out = (
        frame.get("memory_swap_in_bytes_total"),
        frame.get("memory_swap_out_bytes_total"),
    )
    if swap_in is None and swap_out is None:
        return None
    total = np.zeros(len(frame))
    for counter in (swap_in, swap_out):
        if counter is not None:
            total = total + rate(counter, frame.ts)
    return total
