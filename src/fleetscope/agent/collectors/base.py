"""The collector contract: `collect()` returns one payload section (a model, or a list of
models for a section that is a list), or None when it has nothing to report this cycle (a
success without a section); `close()` is optional, and so is `may_block()`: a collector whose
spec is blocking may answer False when its next collect() only reads kernel memory (see
collector_may_block), and the runner then calls it in its own thread.

A collector may keep state between calls (previous counters for rates). It raises on failure;
the runner isolates it, so one broken collector never stops the others.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Protocol, TypeVar

import msgspec

from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.config.settings import Before, SettingsStruct

Section = msgspec.Struct | Sequence[msgspec.Struct]  # model.payload sections


class Collector(Protocol):
    # None: nothing to report this cycle (the inventory between its changes); still a success.
    def collect(self) -> Section | None: ...


@dataclass(frozen=True, slots=True)
class CollectorContext:
    """What a collector may know about its environment: roots are arguments, never globals."""

    procfs: ProcFS
    sysfs: SysFS
    rootfs: Path
    platform: str = sys.platform
    # Each collector's settings model by collector name; a collector without an entry uses
    # its model's defaults.
    settings: Mapping[str, SettingsStruct] = field(default_factory=dict)

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
    # False for a collector that only reads kernel counters (procfs/sysfs files answered from
    # memory, netlink): the runner calls it in its own thread, saving a thread hand-off per
    # cycle, and cannot time it out. True (the default) for anything that can block: statvfs
    # on a dead NFS mount, exporters over HTTP, /proc/<pid>/cmdline waiting on a process's
    # mmap lock, sensors behind I2C or ACPI; those run in worker threads with a deadline.
    blocking: bool = True


def collector_may_block(collector: Collector) -> bool:
    """Whether the next collect() of a blocking collector may wait on something slow. A
    collector without `may_block` always may. The runner hands a collector to a worker thread
    only when it may block: a thread hand-off costs more CPU than most collectors' reads
    (docs/code-choices.md, thread-handoff)."""
    may_block = getattr(collector, "may_block", None)
    return True if may_block is None else bool(may_block())


def close_collector(collector: Collector) -> None:
    close = getattr(collector, "close", None)
    if callable(close):
        close()


SettingsT = TypeVar("SettingsT", bound=SettingsStruct)


def collector_settings(context: CollectorContext, name: str, model: type[SettingsT]) -> SettingsT:
    given = context.settings.get(name)
    if given is None:
        return model()
    if not isinstance(given, model):
        raise TypeError(f"settings for collector {name} must be {model.__name__}")
    return given


def _regex(pattern: object) -> object:
    if isinstance(pattern, str):  # anything else is left to the type check
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
    return pattern


# Kept as text (device_filter compiles it), since "" means "exclude nothing".
Regex = Annotated[str, Before(_regex)]


def device_filter(pattern: str) -> re.Pattern[str] | None:
    """The compiled exclude pattern, or None for "" (exclude nothing). Patterns are searched,
    not matched, like node_exporter's regexp.MatchString, so anchor them."""
    return re.compile(pattern) if pattern else None
