"""A host's headline: the four numbers the overview, the summary, the live feed and the host
page show per host, computed from one frame's values (or one rollup bucket's averages) at the
positions of the series named in model/headline.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fleetscope.model.headline import (
    CPU_UTILIZATION_PERCENT,
    DEVICE_LABEL,
    FILESYSTEM_AVAIL_BYTES,
    FILESYSTEM_READONLY,
    FILESYSTEM_USED_BYTES,
    LOOPBACK_DEVICES,
    MEMORY_TOTAL_BYTES,
    MEMORY_USED_BYTES,
    MOUNTPOINT_LABEL,
    NETWORK_TRAFFIC,
)
from fleetscope.model.series import split_series_key

_FILESYSTEM_PREFIX = "filesystem_"


@dataclass(frozen=True, slots=True)
class Headline:
    """The four numbers the overview shows per host; None when the host sends no such data."""

    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None  # the fullest writable filesystem, used / (used + avail) as df
    network_bytes_per_second: float | None  # receive + transmit, all interfaces but lo


# Headline's fields in order: the summary ranks hosts by each.
HEADLINE_FIELDS = ("cpu_percent", "memory_percent", "disk_percent", "network_bytes_per_second")


class Indexed(Protocol):
    """A frame's values (array) or a rollup bucket's averages: read by position."""

    def __getitem__(self, index: int, /) -> float: ...


@dataclass(frozen=True, slots=True)
class HeadlinePlan:
    """Positions of the headline inputs in one layout, computed once per layout."""

    cpu: int | None
    memory_used: int | None
    memory_total: int | None
    filesystems: tuple[tuple[int, int, int | None], ...]  # (used, avail, readonly)
    network: tuple[int, ...]

    @staticmethod
    def of(keys: Sequence[str]) -> HeadlinePlan:
        index = {key: i for i, key in enumerate(keys)}
        mounts: dict[str, dict[str, int]] = {}
        network: list[int] = []
        for i, key in enumerate(keys):
            name, labels = split_series_key(key)
            if name.startswith(_FILESYSTEM_PREFIX) and MOUNTPOINT_LABEL in labels:
                mounts.setdefault(labels[MOUNTPOINT_LABEL], {})[name] = i
            elif name in NETWORK_TRAFFIC and labels.get(DEVICE_LABEL) not in LOOPBACK_DEVICES:
                network.append(i)
        filesystems = tuple(
            (m[FILESYSTEM_USED_BYTES], m[FILESYSTEM_AVAIL_BYTES], m.get(FILESYSTEM_READONLY))
            for m in mounts.values()
            if FILESYSTEM_USED_BYTES in m and FILESYSTEM_AVAIL_BYTES in m
        )
        return HeadlinePlan(
            cpu=index.get(CPU_UTILIZATION_PERCENT),
            memory_used=index.get(MEMORY_USED_BYTES),
            memory_total=index.get(MEMORY_TOTAL_BYTES),
            filesystems=filesystems,
            network=tuple(network),
        )

    def headline(self, raw: Indexed) -> Headline:
        """NaN is absent (store/frames.py); `x == x` is the fast NaN test on this hot path."""

        def at(i: int | None) -> float | None:
            if i is None:
                return None
            value = raw[i]
            return value if value == value else None  # noqa: PLR0124 (NaN test)

        used, total = at(self.memory_used), at(self.memory_total)
        memory = 100.0 * used / total if used is not None and total else None
        fullest = -1.0
        for used_i, avail_i, ro_i in self.filesystems:
            fs_used, fs_avail = raw[used_i], raw[avail_i]
            size = fs_used + fs_avail  # NaN when either is absent: then not > 0
            if size > 0 and (ro_i is None or raw[ro_i] != 1.0):
                fullest = max(fullest, 100.0 * fs_used / size)
        rate = 0.0
        rates = 0
        for i in self.network:
            value = raw[i]
            if value == value:  # noqa: PLR0124 (NaN test)
                rate += value
                rates += 1
        return Headline(
            at(self.cpu), memory, fullest if fullest >= 0 else None, rate if rates else None
        )


def merge(a: Headline, b: Headline) -> Headline:
    """Two layouts at one instant (a host whose agent split its snapshot): first value wins."""
    return Headline(
        a.cpu_percent if a.cpu_percent is not None else b.cpu_percent,
        a.memory_percent if a.memory_percent is not None else b.memory_percent,
        a.disk_percent if a.disk_percent is not None else b.disk_percent,
        a.network_bytes_per_second
        if a.network_bytes_per_second is not None
        else b.network_bytes_per_second,
    )
