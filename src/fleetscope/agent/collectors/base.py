"""The collector contract: `collect()` returns one payload section; `close()` is optional.

A collector may keep state between calls (previous counters for rates). It raises on failure;
the runner isolates it, so one broken collector never stops the others.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from fleetscope.agent.linux.procfs import ProcFS, SysFS
from fleetscope.agent.settings import AgentSettings


class Collector(Protocol):
    def collect(self) -> BaseModel: ...


@dataclass(frozen=True, slots=True)
class CollectorContext:
    """What a collector may know about its environment: roots are arguments, never globals."""

    procfs: ProcFS
    sysfs: SysFS
    rootfs: Path
    platform: str = sys.platform
    # Collector options (device filters ...). The default is every setting at its default,
    # built without reading FLEETSCOPE_* variables or files, so tests are not steered by them.
    settings: AgentSettings = field(default_factory=AgentSettings.model_construct)

    @property
    def linux(self) -> bool:
        return self.platform.startswith("linux")


@dataclass(frozen=True, slots=True)
class CollectorSpec:
    name: str
    section: str  # the Snapshot field it fills
    description: str
    enabled_by_default: bool
    factory: Callable[[CollectorContext], Collector]


def close_collector(collector: Collector) -> None:
    close = getattr(collector, "close", None)
    if callable(close):
        close()
