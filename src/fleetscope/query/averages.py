"""The summary's arithmetic, apart from how its rows are read (query/summary.py): weighted sums
of headlines, each host's kept state, and the fleet's averages and worst hosts."""

from __future__ import annotations

import functools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fleetscope.query.headline import HEADLINE_FIELDS, Headline
from fleetscope.query.status import Status
from fleetscope.store.engine import datetime_of_ms
from fleetscope.store.rollup_math import HOUR_MS


class Totals:
    """Weighted sums of the four headline values (weight = snapshots behind a value)."""

    __slots__ = ("sums", "weights")

    def __init__(self) -> None:
        self.sums = [0.0, 0.0, 0.0, 0.0]
        self.weights = [0, 0, 0, 0]

    def add(self, weight: int, values: Headline) -> None:
        for i, value in enumerate(
            (
                values.cpu_percent,
                values.memory_percent,
                values.disk_percent,
                values.network_bytes_per_second,
            )
        ):
            if value is not None:
                self.sums[i] += weight * value
                self.weights[i] += weight

    def merge(self, other: Totals) -> None:
        for i in range(4):
            self.sums[i] += other.sums[i]
            self.weights[i] += other.weights[i]

    def means(self) -> Headline | None:
        if not any(self.weights):
            return None
        return Headline(
            *(t / n if n else None for t, n in zip(self.sums, self.weights, strict=True))
        )


@dataclass(slots=True)
class HostSums:
    """The summary's memory of one host: its hour rows' headlines, and the minute rows after
    its newest hour row summed as they arrive (`partial`, minutes from partial_from through
    through_ms). A late recomputation of a minute already summed is seen once its hour row
    exists (within about an hour)."""

    hours: dict[tuple[int, int], tuple[int, Headline]] = field(default_factory=dict)
    version: int = 0  # grows whenever `hours` changes
    # ((first hour, end hour, version), their totals, the end of the newest hour row)
    hours_total: tuple[tuple[int, int, int], Totals, int] | None = None
    partial_from: int = -1
    through_ms: int = -1
    partial: Totals = field(default_factory=Totals)
    # (raw from, the newest frame summed, totals): the raw tail, added to as frames arrive
    tail: tuple[int, int, Totals] | None = None

    def hour_totals(self, first_hour: int, end_hour: int) -> tuple[Totals, int]:
        """The hour rows of [first_hour, end_hour) summed, and the end of the newest of them
        (first_hour when there is none)."""
        key = (first_hour, end_hour, self.version)
        if self.hours_total is None or self.hours_total[0] != key:
            total, covered = Totals(), first_hour
            for (bucket, _), (weight, values) in self.hours.items():
                if first_hour <= bucket < end_hour:
                    total.add(weight, values)
                    covered = max(covered, bucket + HOUR_MS)
            self.hours_total = (key, total, covered)
        return self.hours_total[1], self.hours_total[2]


class Host(Protocol):
    """What the summary needs of an overview row (query/fleet.py FleetHost)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> Status: ...


@dataclass(frozen=True, slots=True)
class HostAverage:
    id: int
    name: str
    status: Status
    averages: Headline


@dataclass(frozen=True, slots=True)
class FleetSummary:
    start: datetime
    end: datetime
    counts: dict[Status, int]
    averages: Headline  # mean over hosts of each host's mean in the range
    worst: dict[str, list[HostAverage]]  # metric → hosts, worst first


def _worst_first(name: str, host: HostAverage) -> float:
    value: float = getattr(host.averages, name)
    return -value


def summarise(
    overview: Sequence[Host],
    totals: Mapping[int, Totals],
    start_ms: int,
    end_ms: int,
    worst: int,
) -> FleetSummary:
    """Counts by status; per headline value the mean over hosts of each host's weighted mean,
    and the `worst` hosts, highest first. A host without a value counts in neither."""
    averages = []
    for host in overview:
        found = totals.get(host.id)
        means = None if found is None else found.means()
        if means is not None:
            averages.append(HostAverage(host.id, host.name, host.status, means))
    fleet: list[float | None] = []
    ranked: dict[str, list[HostAverage]] = {}
    for name in HEADLINE_FIELDS:
        having = [h for h in averages if getattr(h.averages, name) is not None]
        fleet.append(
            statistics.fmean(getattr(h.averages, name) for h in having) if having else None
        )
        ranked[name] = sorted(having, key=functools.partial(_worst_first, name))[:worst]
    status_counts: dict[Status, int] = {"live": 0, "stale": 0, "offline": 0}
    for host in overview:
        status_counts[host.status] += 1
    return FleetSummary(
        start=datetime_of_ms(start_ms),
        end=datetime_of_ms(end_ms),
        counts=status_counts,
        averages=Headline(*fleet),
        worst=ranked,
    )
