"""The collector contract: `collect()` returns one payload section (a model, or a list of
models for a section that is a list); `close()` is optional.

A collector may keep state between calls (previous counters for rates). It raises on failure;
the runner isolates it, so one broken collector never stops the others.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from fleetscope.agent.linux.procfs import ProcFS, SysFS
from fleetscope.agent.settings import ExporterTarget

Section = BaseModel | Sequence[BaseModel]


class Collector(Protocol):
    def collect(self) -> Section: ...


@dataclass(frozen=True, slots=True)
class CollectorContext:
    """What a collector may know about its environment: roots are arguments, never globals."""

    procfs: ProcFS
    sysfs: SysFS
    rootfs: Path
    platform: str = sys.platform
    exporters: tuple[ExporterTarget, ...] = ()

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
