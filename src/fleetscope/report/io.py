"""Disk, filesystem and network checks, along the USE method."""

from __future__ import annotations

import re

import numpy as np

from fleetscope.report.findings import (
    Fact,
    Finding,
    Plot,
    Row,
    Severity,
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
from fleetscope.report.processes import GroupUse, io_driver
from fleetscope.report.thresholds import Thresholds

# Devices that are not disks a workload waits on (iostat -x lists them, but judging a CD drive
# or a loop-mounted snap is noise).
_NOT_DISKS = re.compile(r"^(loop|ram|sr|fd|zram)\d+$")
# Filesystems with no device behind them (df -x would leave them out as well).
_PSEUDO_FS = frozenset(
    {
        "tmpfs",
        "devtmpfs",
        "overlay",
        "squashfs",
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "nsfs",
        "ramfs",
        "devpts",
        "fuse.lxcfs",
        "efivarfs",
        "autofs",
        "iso9660",
    }
)
DAY = 86_400.0
_TOP_PLOTTED = 4


def _by_label(frame: HostFrame, name: str, label: str) -> dict[str, Array]:
    return {r.labels[label]: r.values for r in frame.labelled(name) if label in r.labels}


def _whole_disks(names: list[str]) -> list[str]:
    """Drop partitions (sda1 beside sda, nvme0n1p1 beside nvme0n1): their I/O is counted in the
    disk's already."""
    keep = []
    for name in names:
        if _NOT_DISKS.match(name):
            continue
        if any(
            name != other and re.fullmatch(re.escape(other) + r"p?\d+", name) for other in names
        ):
            continue
        keep.append(name)
    return keep


def analyse_disk(frame: HostFrame, t: Thresholds, groups: list[GroupUse]) -> Subsystem:
    ts = frame.ts
    io_time = _by_label(frame, "disk_io_time_seconds_total", "device")
    reads = _by_label(frame, "disk_reads_completed_total", "device")
    writes = _by_label(frame, "disk_writes_completed_total", "device")
    read_time = _by_label(frame, "disk_read_time_seconds_total", "device")
    write_time = _by_label(frame, "disk_write_time_seconds_total", "device")
    weighted = _by_label(frame, "disk_io_time_weighted_seconds_total", "device")
    findings: list[Finding] = []
    table: list[Row] = [
        ("device", "p95 busy %", "p95 await ms", "p95 queue", "p95 IOPS", "max IOPS")
    ]
    util_lines, await_lines = [], []
    driver = io_driver(groups)
    for device in _whole_disks(sorted(reads)):
        busy = np.minimum(rate(io_time[device], ts) * 100, 100) if device in io_time else None
        ops = rate(reads[device], ts) + rate(writes.get(device, np.zeros(len(ts))), ts)
        await_ms = None
        if device in read_time and device in write_time:
            spent = rate(read_time[device], ts) + rate(write_time[device], ts)
            with np.errstate(divide="ignore", invalid="ignore"):
                await_ms = np.where(ops > 0, spent / ops * 1000, np.nan)
        queue = rate(weighted[device], ts) if device in weighted else None
        if maximum(ops) in (None, 0.0):
            continue  # a disk nothing touched in the window: nothing to judge
        if busy is not None:
            share = share_above(busy, t.disk_busy_percent)
            findings.append(
                Finding(
                    "disk",
                    "disk.utilization",
                    device,
                    by_share(share, t),
                    f"{device} busy above {t.disk_busy_percent:g} % for {fmt_share(share)}",
                    (
                        Fact("p95 busy", fmt(percentile(busy, 95), " %")),
                        Fact("p95 IOPS", fmt(percentile(ops, 95), "", 0)),
                        Fact("max IOPS reached", fmt(maximum(ops), "", 0)),
                    ),
                    "The device is rarely idle: spread I/O over more devices or a faster one.",
                    *window(ts, busy > t.disk_busy_percent),
                    driver=driver if share > 0 else None,
                )
            )
            util_lines.append((device, busy))
        if await_ms is not None:
            share = share_above(await_ms, t.disk_await_ms)
            findings.append(
                Finding(
                    "disk",
                    "disk.latency",
                    device,
                    by_share(share, t),
                    f"{device} await above {t.disk_await_ms:g} ms for {fmt_share(share)}",
                    (
                        Fact("p50 await", fmt(percentile(await_ms, 50), " ms")),
                        Fact("p95 await", fmt(percentile(await_ms, 95), " ms")),
                    ),
                    "Requests wait long: check the queue depth and the device's health.",
                    *window(ts, await_ms > t.disk_await_ms),
                    driver=driver if share > 0 else None,
                )
            )
            await_lines.append((device, await_ms))
        if queue is not None:
            share = share_above(queue, t.disk_queue_depth)
            findings.append(
                Finding(
                    "disk",
                    "disk.saturation",
                    device,
                    by_share(share, t),
                    f"{device} queue above {t.disk_queue_depth:g} for {fmt_share(share)}",
                    (Fact("p95 queue depth", fmt(percentile(queue, 95), "", 2)),),
                    "More requests are queued than the device serves: reduce or spread the I/O.",
                    *window(ts, queue > t.disk_queue_depth),
                )
            )
        table.append(
            (
                device,
                fmt(percentile(busy, 95)) if busy is not None else "n/a",
                fmt(percentile(await_ms, 95)) if await_ms is not None else "n/a",
                fmt(percentile(queue, 95), "", 2) if queue is not None else "n/a",
                fmt(percentile(ops, 95), "", 0),
                fmt(maximum(ops), "", 0),
            )
        )
    plots = []
    if util_lines:
        plots.append(Plot("Disk busy", "%", tuple(util_lines[:_TOP_PLOTTED]), t.disk_busy_percent))
    if await_lines:
        plots.append(Plot("Disk await", "ms", tuple(await_lines[:_TOP_PLOTTED]), t.disk_await_ms))
    note = None if len(table) > 1 else "No disk did any I/O in the window."
    return Subsystem("disk", "Disks", findings, table, plots, note)


def _mounts(frame: HostFrame) -> list[tuple[str, Array, Array]]:
    """(mountpoint, used, avail) per real filesystem, one mount per device (the shortest
    mountpoint: bind mounts show the same numbers again)."""
    used: dict[tuple[str, str], Array] = {}
    avail: dict[tuple[str, str], Array] = {}
    readonly: set[tuple[str, str]] = set()
    for name, into in (("filesystem_used_bytes", used), ("filesystem_avail_bytes", avail)):
        for ref in frame.labelled(name):
            if ref.labels.get("fstype") in _PSEUDO_FS:
                continue
            into[(ref.labels.get("device", ""), ref.labels.get("mountpoint", ""))] = ref.values
    for ref in frame.labelled("filesystem_readonly"):
        if np.nanmax(ref.values, initial=0) > 0:
            readonly.add((ref.labels.get("device", ""), ref.labels.get("mountpoint", "")))
    best: dict[str, tuple[str, str]] = {}
    for device, mountpoint in sorted(used.keys() & avail.keys() - readonly):
        kept = best.get(device)
        if kept is None or len(mountpoint) < len(kept[1]):
            best[device] = (device, mountpoint)
    return sorted(((k[1], used[k], avail[k]) for k in best.values()), key=lambda m: m[0])


def forecast_days(ts: Array, avail: Array, r2_min: float) -> tuple[float | None, float]:
    """Days until `avail` reaches zero on its fitted line (None when it does not shrink or the
    line explains too little), and the line's slope in bytes per day."""
    fit = trend(ts, avail)
    if fit is None:
        return None, 0.0
    slope, r2 = fit
    last = avail[~np.isnan(avail)][-1]
    if slope >= 0 or r2 < r2_min:
        return None, slope * DAY
    return float(last / -slope / DAY), slope * DAY


def analyse_filesystems(frame: HostFrame, t: Thresholds) -> Subsystem:
    ts = frame.ts
    findings: list[Finding] = []
    table: list[Row] = [("mount", "size", "used %", "fill rate / day", "days to full")]
    lines = []
    forecast = None
    for mountpoint, used, avail in _mounts(frame):
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = used / (used + avail) * 100  # df's Use%: root's reserve not counted
        last_pct = float(pct[~np.isnan(pct)][-1]) if (~np.isnan(pct)).any() else None
        if last_pct is None:
            continue
        days, per_day = forecast_days(ts, avail, t.trend_r2)
        level: Severity = (
            "critical"
            if last_pct >= t.filesystem_critical_percent
            else "warning"
            if last_pct >= t.filesystem_warning_percent
            else "ok"
        )
        findings.append(
            Finding(
                "filesystem",
                "filesystem.fill",
                mountpoint,
                level,
                f"{mountpoint} is {last_pct:.1f} % full",
                (
                    Fact("used", fmt_bytes(float(used[~np.isnan(used)][-1]))),
                    Fact("available", fmt_bytes(float(avail[~np.isnan(avail)][-1]))),
                ),
                "Free space or grow the filesystem before it fills.",
            )
        )
        soon: Severity = "ok"
        if days is not None:
            soon = (
                "critical"
                if days <= t.filesystem_days_critical
                else "warning"
                if days <= t.filesystem_days_warning
                else "ok"
            )
        findings.append(
            Finding(
                "filesystem",
                "filesystem.forecast",
                mountpoint,
                soon,
                f"{mountpoint} full in {fmt(days, ' days')} at the current rate"
                if days is not None
                else f"{mountpoint} is not filling up",
                (Fact("fill rate", fmt_bytes(-per_day) + "/day"), Fact("days to full", fmt(days))),
                "Find what writes there (logs, caches, dumps) and rotate or move it.",
                float(ts[0]) if soon != "ok" else None,
                float(ts[-1]) if soon != "ok" else None,
            )
        )
        size = float(np.nanmax(used + avail))
        table.append((mountpoint, fmt_bytes(size), fmt(last_pct), fmt_bytes(-per_day), fmt(days)))
        lines.append((mountpoint, pct))
        if days is not None and forecast is None:
            end = float(ts[-1]) + days * DAY
            forecast = ((float(ts[-1]), last_pct), (end, 100.0))
    lines.sort(key=lambda line: -np.nanmax(line[1]))
    plots = (
        [
            Plot(
                "Filesystem use",
                "%",
                tuple(lines[:_TOP_PLOTTED]),
                t.filesystem_warning_percent,
                forecast,
            )
        ]
        if lines
        else []
    )
    note = None if lines else "The host reported no filesystems."
    return Subsystem("filesystem", "Filesystems", findings, table, plots, note)


def _flaps(values: Array) -> int:
    valid = values[~np.isnan(values)]
    return int(np.sum((valid[:-1] > 0) & (valid[1:] == 0))) if len(valid) > 1 else 0


def analyse_network(frame: HostFrame, t: Thresholds) -> Subsystem:
    ts = frame.ts
    rx = _by_label(frame, "network_receive_bytes_total", "device")
    tx = _by_label(frame, "network_transmit_bytes_total", "device")
    speed = _by_label(frame, "network_speed_bits_per_second", "device")
    up = _by_label(frame, "network_carrier", "device") or _by_label(frame, "network_up", "device")
    findings: list[Finding] = []
    table: list[Row] = [
        ("interface", "p95 in", "p95 out", "link", "p95 link %", "errors", "drops", "flaps")
    ]
    lines = []
    for device in sorted(rx):
        if device == "lo":
            continue
        rx_rate, tx_rate = rate(rx[device], ts), rate(tx.get(device, np.zeros(len(ts))), ts)
        link = maximum(speed[device]) if device in speed else None
        link_pct = None
        if link:
            link_pct = np.fmax(rx_rate, tx_rate) * 8 / link * 100
            share = share_above(link_pct, t.link_busy_percent)
            findings.append(
                Finding(
                    "network",
                    "network.utilization",
                    device,
                    by_share(share, t),
                    f"{device} above {t.link_busy_percent:g} % of its link for {fmt_share(share)}",
                    (
                        Fact("link speed", fmt(link / 1e6, " Mbit/s", 0)),
                        Fact("p95 of link", fmt(percentile(link_pct, 95), " %")),
                    ),
                    "The link is the limit: bond, upgrade it or move traffic.",
                    *window(ts, link_pct > t.link_busy_percent),
                )
            )
        errors = _increase(
            frame, device, ("network_receive_errors_total", "network_transmit_errors_total")
        )
        drops_rate = _rate_sum(
            frame, device, ("network_receive_drops_total", "network_transmit_drops_total")
        )
        drops_share = share_above(drops_rate, t.network_drops_per_second)
        findings.append(
            Finding(
                "network",
                "network.errors",
                device,
                "warning" if errors > 0 else "ok",
                f"{device}: {errors:,.0f} errors in the window",
                (Fact("errors", f"{errors:,.0f}"),),
                "Errors point at cabling, the NIC or its driver: check ethtool -S.",
            )
        )
        findings.append(
            Finding(
                "network",
                "network.drops",
                device,
                by_share(drops_share, t),
                f"{device} dropped above {t.network_drops_per_second:g} packets/s"
                f" for {fmt_share(drops_share)}",
                (Fact("p95 drops/s", fmt(percentile(drops_rate, 95), "", 2)),),
                "Drops mean full queues: raise ring buffers or spread the load over queues.",
                *window(ts, drops_rate > t.network_drops_per_second),
            )
        )
        flaps = _flaps(up[device]) if device in up else 0
        level: Severity = (
            "critical"
            if flaps >= t.link_flaps_critical
            else "warning"
            if flaps >= t.link_flaps_warning
            else "ok"
        )
        down = up[device] == 0 if device in up else np.zeros(len(ts), dtype=bool)
        findings.append(
            Finding(
                "network",
                "network.flapping",
                device,
                level,
                f"{device} lost its link {flaps} times",
                (
                    Fact("link losses", str(flaps)),
                    Fact("time down", fmt_share(float(np.mean(down))) if len(ts) else "n/a"),
                ),
                "A flapping link: check the cable, the switch port and auto-negotiation.",
                *window(ts, down),
            )
        )
        table.append(
            (
                device,
                fmt_bytes(percentile(rx_rate, 95)) + "/s",
                fmt_bytes(percentile(tx_rate, 95)) + "/s",
                fmt(link / 1e6, " Mb/s", 0) if link else "n/a",
                fmt(percentile(link_pct, 95)) if link_pct is not None else "n/a",
                f"{errors:,.0f}",
                fmt(float(np.nansum(drops_rate * np.append(0, np.diff(ts)))), "", 0),
                str(flaps),
            )
        )
        lines.append((f"{device} in", rx_rate * 8 / 1e6))
        lines.append((f"{device} out", tx_rate * 8 / 1e6))
    lines.sort(key=lambda line: -(maximum(line[1]) or 0))
    plots = [Plot("Network throughput", "Mbit/s", tuple(lines[:_TOP_PLOTTED]))] if lines else []
    note = "TCP retransmits are not collected by the agent yet; not judged."
    return Subsystem("network", "Network", findings, table, plots, note)


def _rate_sum(frame: HostFrame, device: str, names: tuple[str, ...]) -> Array:
    total = np.zeros(len(frame))
    for name in names:
        values = frame.get(f'{name}{{device="{device}"}}')
        if values is not None:
            total = total + np.nan_to_num(rate(values, frame.ts))
    return total


def _increase(frame: HostFrame, device: str, names: tuple[str, ...]) -> float:
    deltas = _rate_sum(frame, device, names) * np.append(0, np.diff(frame.ts))
    return float(np.nansum(deltas))
