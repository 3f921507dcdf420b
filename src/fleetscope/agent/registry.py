"""Every collector, by name, in one literal mapping (like node_exporter's collector registry).
Importing this module runs no collector and opens no file."""

from __future__ import annotations

from collections.abc import Collection

from fleetscope.agent.collectors.base import CollectorSpec
from fleetscope.agent.collectors.cpu import make_cpu_collector
from fleetscope.agent.collectors.exporters import make_exporters_collector
from fleetscope.agent.collectors.memory import make_memory_collector

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
