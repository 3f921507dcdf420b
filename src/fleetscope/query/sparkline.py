"""The overview's memory of each host: its frames of the last SPARK_WINDOW_MS, and the
sparkline drawn from them. No I/O here: query/fleet.py reads the frames and adds them.

Decoding a frame and computing its headline is most of the overview's cost at fleet scale
(bench/bench_fleet_overview.py), so a window keeps each snapshot as a reference to its row
until a sparkline picks it, then decodes the row and keeps the headlines of its snapshots.
That is safe because a row is written once (INSERT ... ON CONFLICT DO NOTHING): the rows read
never change under the same key."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

from fleetscope.query.headline import Headline, merge
from fleetscope.query.layouts import Layouts
from fleetscope.query.status import INTERVAL_SAMPLES, interval_ms
from fleetscope.store.chunks import decode_chunk

SPARK_WINDOW_MS = 10 * 60_000
SPARK_POINTS = 30
SPARK_SLOT_MS = SPARK_WINDOW_MS // SPARK_POINTS


def firsts(times: list[int]) -> list[int]:
    """The first of the (sorted) instants in each SPARK_SLOT_MS slot."""
    out: list[int] = []
    for ts_ms in times:
        if not out or ts_ms // SPARK_SLOT_MS != out[-1] // SPARK_SLOT_MS:
            out.append(ts_ms)
    return out


@dataclass(slots=True, eq=False)
class RowRef:
    """A stored row (one or several snapshots, store/chunks.py) whose snapshots are in a
    window: decoded once, when a sparkline first picks one of them."""

    ts_ms: int
    layout_id: int
    blob: bytes


@dataclass(slots=True)
class HostWindow:
    """One host's frames of the last SPARK_WINDOW_MS, per instant and layout, each a blob until
    a sparkline picks it, then a headline. `spark` is the last result, valid until the window
    changes."""

    known_ms: int = 0  # the newest ts_ms read
    times: list[int] = field(default_factory=list)  # sorted
    firsts: list[int] = field(default_factory=list)  # the first instant of each spark slot
    parts: dict[int, dict[int, Headline | RowRef]] = field(default_factory=dict)
    merged: dict[int, Headline] = field(default_factory=dict)
    spark: tuple[int, list[tuple[float, Headline]]] | None = None  # (interval, points)

    def add(self, ts_ms: int, layout_id: int, blob: RowRef) -> None:
        layouts = self.parts.get(ts_ms)
        if layouts is None:
            self.parts[ts_ms] = {layout_id: blob}
            if not self.times or ts_ms > self.times[-1]:
                # The usual case, kept incremental: the newest frame opens a slot or not.
                if not self.times or ts_ms // SPARK_SLOT_MS != self.times[-1] // SPARK_SLOT_MS:
                    self.firsts.append(ts_ms)
                self.times.append(ts_ms)
            else:
                bisect.insort(self.times, ts_ms)
                self.firsts = firsts(self.times)
        elif layout_id not in layouts:
            layouts[layout_id] = blob
            self.merged.pop(ts_ms, None)
        else:
            return
        self.known_ms = max(self.known_ms, ts_ms)
        self.spark = None

    def forget_before(self, cutoff_ms: int) -> None:
        gone = bisect.bisect_left(self.times, cutoff_ms)
        if gone:
            for ts_ms in self.times[:gone]:
                del self.parts[ts_ms]
                self.merged.pop(ts_ms, None)
            del self.times[:gone]
            del self.firsts[: bisect.bisect_left(self.firsts, cutoff_ms)]
            if self.times and (not self.firsts or self.firsts[0] != self.times[0]):
                self.firsts.insert(0, self.times[0])  # now the first of its (cut) slot
            self.spark = None

    def picks(self) -> list[int]:
        """The sparkline's instants: all of them up to SPARK_POINTS, else the first of each
        SPARK_SLOT_MS slot of absolute time, so that the picks stay the same from one call to
        the next and only new frames are decoded; the newest is always kept (it is the value
        shown beside the chart)."""
        if len(self.times) <= SPARK_POINTS:
            return self.times
        if self.firsts[-1] != self.times[-1]:
            return [*self.firsts, self.times[-1]]
        return self.firsts

    def headline(self, ts_ms: int, layouts: Layouts) -> Headline | None:
        """The instant's headline, its frames decoded now if not yet."""
        headline = self.merged.get(ts_ms)
        if headline is None:
            instant = self.parts[ts_ms]
            for layout_id, stored in list(instant.items()):
                if isinstance(stored, RowRef):
                    self._decode(stored, layouts)
                value = instant[layout_id]
                assert not isinstance(value, RowRef)  # _decode replaced it
                headline = value if headline is None else merge(headline, value)
            if headline is not None:
                self.merged[ts_ms] = headline
        return headline

    def _decode(self, ref: RowRef, layouts: Layouts) -> None:
        """Every snapshot of the row that the window still holds becomes its headline (the
        same keys: the dicts keep their size)."""
        plan = layouts.plans[ref.layout_id]
        for ts_ms, values in decode_chunk(ref.ts_ms, ref.blob):
            instant = self.parts.get(ts_ms)
            if instant is not None and instant.get(ref.layout_id) is ref:
                instant[ref.layout_id] = plan.headline(values)

    def sparkline(self, layouts: Layouts) -> tuple[int, list[tuple[float, Headline]]]:
        """(interval, points), decoding only the frames the sparkline keeps: decoding and the
        headline arithmetic are most of the overview's time when the cache is cold."""
        if self.spark is not None:
            return self.spark
        series = []
        for ts_ms in self.picks():
            headline = self.headline(ts_ms, layouts)
            if headline is not None:
                series.append((ts_ms / 1000, headline))
        self.spark = (interval_ms(self.times[-INTERVAL_SAMPLES:]), series)
        return self.spark


class Windows:
    """Every host's window; hold `lock` while reading or changing any of them (the overview
    refreshes them, the summary reads its raw tail from them)."""

    def __init__(self) -> None:
        self.by_host: dict[int, HostWindow] = {}
        self.lock = threading.Lock()
