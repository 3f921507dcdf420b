"""Per-second rates of counters between consecutive snapshots, for any collector.

`CounterRates` remembers, per entity (an interface, a disk, a process group ...), the counters
of the previous snapshot and the monotonic time it was taken. Each `update()` returns, per
entity, the `Interval` since then: the seconds that passed and each field's delta.

What does not yield a rate, and why:

* An entity seen for the first time has nothing to compare with: its interval is None.
* An entity missing from an update is forgotten, so if it comes back (a USB disk replugged, an
  interface recreated with the same name) it starts again without a rate instead of being
  compared with counters from another life.
* A counter that went down has been reset (driver reload, interface recreated between two
  snapshots, VM restored) or has wrapped (a 32-bit counter passing 2**32). The two cannot be
  told apart from two readings: a wrap adds an unknown number of times 2**32 (or 2**64), so
  "assume one wrap" would sometimes invent a rate. That field's delta is None for the interval,
  never a negative or huge number; the next interval has a rate again.
* No time passed (or the clock went back): the interval is None.

The clock is injected (`time.monotonic` by default): wall-clock time jumps with NTP and would
make rates wrong, and tests pass a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

EntityT = TypeVar("EntityT", bound=Hashable)
Counters = Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class Interval:
    """What changed for one entity between two snapshots. `deltas` holds only the fields that
    were present in both and did not go down."""

    seconds: float
    deltas: Mapping[str, float]

    def delta(self, field: str) -> float | None:
        return self.deltas.get(field)

    def per_second(self, field: str) -> float | None:
        delta = self.deltas.get(field)
        return None if delta is None else delta / self.seconds


class CounterRates(Generic[EntityT]):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._previous: dict[EntityT, Counters] = {}
        self._previous_time: float | None = None

    def update(self, counters: Mapping[EntityT, Counters]) -> dict[EntityT, Interval | None]:
        """Record this snapshot (read the clock once) and return each entity's interval."""
        now = self._clock()
        seconds = None if self._previous_time is None else now - self._previous_time
        intervals: dict[EntityT, Interval | None] = {}
        for entity, current in counters.items():
            before = self._previous.get(entity)
            if before is None or seconds is None or seconds <= 0:
                intervals[entity] = None
                continue
            deltas: dict[str, float] = {}
            for field, value in current.items():
                old = before.get(field)
                if value is None or old is None or value < old:
                    continue
                deltas[field] = value - old
            intervals[entity] = Interval(seconds, deltas)
        self._previous = dict(counters)
        self._previous_time = now
        return intervals
