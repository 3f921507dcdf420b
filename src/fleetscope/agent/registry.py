"""Every collector, by name, in one literal mapping (like node_exporter's collector registry).
Importing this module runs no collector and opens no file.

`blocking=False` marks the collectors the runner calls inline (CollectorSpec.blocking): memory
(/proc/meminfo, vmstat, pressure), network (/proc/net, /sys/class/net, a netlink dump with a
receive timeout), disk (/proc/diskstats, io pressure) and filefd (/proc/sys/fs/file-nr).
cpu stays in a worker: it reads hwmon and thermal sensors, whose drivers may wait on a slow
bus or ACPI firmware."""

from __future__ import annotations

from collections.abc import Collection

from fleetscope.agent.collectors.base import Collector, CollectorContext, CollectorSpec
from fleetscope.agent.collectors.cpu import make_cpu_collector
from fleetscope.agent.collectors.disk import make_disk_collector
from fleetscope.agent.collectors.filefd import make_filefd_collector
from fleetscope.agent.collectors.filesystem import make_filesystem_collector
from fleetscope.agent.collectors.inventory import make_inventory_collector
from fleetscope.agent.collectors.memory import make_memory_collector
from fleetscope.agent.collectors.network import make_network_collector
from fleetscope.agent.collectors.processes import make_processes_collector


def make_exporters_collector(context: CollectorContext) -> Collector:
    # Imported here, not above: httpx, asyncio and the exposition parser take resident memory
    # (docs/code-choices.md) that only agents with exporter targets should pay.
    from fleetscope.agent.collectors.exporters import make_exporters_collector as make  # noqa: PLC0415

    return make(context)


REGISTRY: dict[str, CollectorSpec] = {
    "cpu": CollectorSpec(
        name="cpu",
        section="cpu",
        description="CPU seconds per mode and core, utilisation, load, switches, interrupts",
        enabled_by_default=True,
        factory=make_cpu_collector,
    ),
    "memory": CollectorSpec(
        name="memory",
        section="memory",
        description="memory and swap: total, used, free, available, cached, buffers, shared, slab",
        enabled_by_default=True,
        factory=make_memory_collector,
        blocking=False,
    ),
    "network": CollectorSpec(
        name="network",
        section="network",
        description="per-interface traffic counters and rates, link state and speed; TCP and "
        "UDP socket counts, TCP connections per state",
        enabled_by_default=True,
        factory=make_network_collector,
        blocking=False,
    ),
    "disk": CollectorSpec(
        name="disk",
        section="disk",
        description="per block device I/O counters, IOPS, bytes per second, await, utilisation",
        enabled_by_default=True,
        factory=make_disk_collector,
        blocking=False,
    ),
    "filefd": CollectorSpec(
        name="filefd",
        section="filefd",
        description="file handles allocated and the system's maximum (/proc/sys/fs/file-nr)",
        enabled_by_default=True,
        factory=make_filefd_collector,
        blocking=False,
    ),
    "processes": CollectorSpec(
        name="processes",
        section="processes",
        description="process groups (process-exporter rules) and top processes by CPU and memory",
        enabled_by_default=True,
        factory=make_processes_collector,
    ),
    "filesystem": CollectorSpec(
        name="filesystem",
        section="filesystem",
        description="per mount: size, used, free, available bytes, inodes, read-only, stuck",
        enabled_by_default=True,
        factory=make_filesystem_collector,
    ),
    "inventory": CollectorSpec(
        name="inventory",
        section="inventory",
        description="hardware and software audit, sent at start, on change and daily",
        enabled_by_default=True,
        factory=make_inventory_collector,
    ),
    # Off by default, and on by default as soon as [[agent.exporters]] names a target: it
    # has nothing to do without targets, and a listed target is the request to scrape it.
    "exporters": CollectorSpec(
        name="exporters",
        section="exporters",
        description="scrape Prometheus exporters (on when [[agent.exporters]] targets are set)",
        enabled_by_default=False,
        factory=make_exporters_collector,
    ),
}


class UnknownCollector(ValueError):
    pass


def select_collectors(
    names: list[str] | None, configured: Collection[str] = ()
) -> list[CollectorSpec]:
    """The named collectors in registry order, or for None the default set plus the
    `configured` ones (collectors whose settings ask for them, e.g. exporters with targets)."""
    if names is None:
        return [
            spec for name, spec in REGISTRY.items() if spec.enabled_by_default or name in configured
        ]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UnknownCollector(
            f"unknown collector(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}"
        )
    return [spec for name, spec in REGISTRY.items() if name in names]
