"""perfcollector's capture files read as snapshots, so `fleetscope report` analyses them too.

The format (perfcollector, github.com/Map-Machina/PerfCollector1; docs/analysis.md,
"perfcollector captures"; tests/cli/test_report_cli.py writes one from this machine): JSON Lines,
one /proc file per line, the raw text as read,

    {"Site": 1, "Host": 0, "Run": 0, "Measurement": {"Timestamp": "2026-01-10T18:06:07.78Z",
     "Frequency": 5000000000, "System": "/proc/stat", "Measurement": "cpu 335269 ..."}}

with /proc/stat, /proc/meminfo, /proc/diskstats and /proc/net/dev sharing one Timestamp per
cycle (Frequency is the interval in nanoseconds). The texts go through the agent's own pure
parsers; only counters and gauges come out (the analysis derives every rate from counters).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from fleetscope.agent.collectors.cpu import _modes
from fleetscope.agent.collectors.disk import diskstats_counters
from fleetscope.agent.collectors.memory import memory_section
from fleetscope.agent.collectors.network import netdev_counters
from fleetscope.agent.linux.parsers.diskstats import parse_diskstats
from fleetscope.agent.linux.parsers.meminfo import parse_meminfo
from fleetscope.agent.linux.parsers.netdev import parse_net_dev
from fleetscope.agent.linux.parsers.stat import parse_stat
from fleetscope.model.codec import convert
from fleetscope.model.payload import (
    CpuCore,
    CpuSection,
    DiskDevice,
    DiskSection,
    MemorySection,
    NetworkInterface,
    NetworkSection,
    Snapshot,
)

SYSTEMS = ("/proc/stat", "/proc/meminfo", "/proc/diskstats", "/proc/net/dev")


class CaptureError(ValueError):
    """Names the line and what was wrong with it."""


def looks_like_capture(first_line: bytes) -> bool:
    """A capture line starts with perfcollector's envelope keys, a payload with schema_version."""
    try:
        value = json.loads(first_line)
    except ValueError:
        return False
    return isinstance(value, dict) and "Measurement" in value and "Site" in value


@dataclass(slots=True)
class _Cycle:
    timestamp: str
    texts: dict[str, str] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # system -> "file:line" it came from


def capture_host(first_line: bytes) -> str:
    value = json.loads(first_line)
    return f"perfcollector-site{value.get('Site')}-host{value.get('Host')}"


def read_capture(lines: Iterable[bytes], source: str = "capture") -> Iterator[Snapshot]:
    """One snapshot per Timestamp, in file order. A line that is not a capture record, or a
    /proc text the parser refuses, raises CaptureError naming `source` and the line number."""
    cycle: _Cycle | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            record = json.loads(line)
            measurement = record["Measurement"]
            stamp, system, text = (
                measurement["Timestamp"],
                measurement["System"],
                measurement["Measurement"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CaptureError(
                f"{where}: not a perfcollector record ({exc!r}): {line[:80]!r}"
            ) from exc
        if cycle is not None and cycle.timestamp != stamp:
            yield _snapshot(cycle, where)
            cycle = None
        if cycle is None:
            cycle = _Cycle(stamp)
        if system in SYSTEMS:
            cycle.texts[system] = text
            cycle.where[system] = where
    if cycle is not None:
        yield _snapshot(cycle, source)


def capture_snapshots(data: bytes, source: str = "capture") -> list[Snapshot]:
    """A whole capture file's snapshots, for the server's POST /v1/upload (wired in by cli:
    ingest may not import the agent). CaptureError when the file is empty, is not a capture
    (a collection file, say), or has a line read_capture refuses."""
    lines = data.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise CaptureError(f"{source}: the file is empty")
    if not looks_like_capture(first):
        raise CaptureError(
            f"{source}: not a perfcollector capture (JSON Lines of"
            f' {{"Site", "Host", "Run", "Measurement"}} records): {first[:80]!r}'
        )
    snapshots = list(read_capture(lines, source))
    if not snapshots:
        raise CaptureError(f"{source}: the capture holds no measurements")
    return snapshots


def _timestamp(text: str, where: str) -> datetime:
    # Go writes nanoseconds; Python's fromisoformat takes at most microseconds.
    head, dot, tail = text.rstrip("Z").partition(".")
    fraction = (tail[:6] if dot else "").ljust(6, "0")
    try:
        return datetime.fromisoformat(f"{head}.{fraction}+00:00")
    except ValueError as exc:
        raise CaptureError(f"{where}: Timestamp {text!r} is not RFC 3339") from exc


def _snapshot(cycle: _Cycle, where: str) -> Snapshot:
    texts = cycle.texts
    sections: dict[str, object] = {}
    for system, name, build in _SECTIONS:
        if system in texts:
            try:
                sections[name] = build(texts[system])
            except ValueError as exc:
                raise CaptureError(f"{cycle.where[system]}: {exc}") from exc
    first = next(iter(cycle.where.values()), where)
    return Snapshot(
        timestamp=_timestamp(cycle.timestamp, first),
        cpu=cast(CpuSection | None, sections.get("cpu")),
        memory=cast(MemorySection | None, sections.get("memory")),
        disk=cast(DiskSection | None, sections.get("disk")),
        network=cast(NetworkSection | None, sections.get("network")),
    )


def _cpu(text: str) -> CpuSection:
    stat = parse_stat(text)
    return CpuSection(
        seconds_total=_modes(stat.total),
        cores=[CpuCore(cpu=n, seconds_total=_modes(t)) for n, t in sorted(stat.per_cpu.items())],
        context_switches_total=stat.context_switches_total,
        interrupts_total=stat.interrupts_total,
        procs_running=stat.procs_running,
        procs_blocked=stat.procs_blocked,
    )


def _memory(text: str) -> MemorySection:
    return memory_section(parse_meminfo(text))


def _disk(text: str) -> DiskSection:
    devices = parse_diskstats(text)
    return DiskSection(
        devices=[
            convert({"device": name, **diskstats_counters(stats)}, DiskDevice)
            for name, stats in sorted(devices.items())
        ]
    )


def _network(text: str) -> NetworkSection:
    interfaces = parse_net_dev(text)
    return NetworkSection(
        interfaces=[
            convert({"device": name, **netdev_counters(stats)}, NetworkInterface)
            for name, stats in sorted(interfaces.items())
        ]
    )


_SECTIONS: tuple[tuple[str, str, Callable[[str], object]], ...] = (
    ("/proc/stat", "cpu", _cpu),
    ("/proc/meminfo", "memory", _memory),
    ("/proc/diskstats", "disk", _disk),
    ("/proc/net/dev", "network", _network),
)
