"""Group counters that only grow, kept across scans the way process-exporter keeps them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleetscope.agent.processes.groups import GroupSnapshot, ProcessGrouper, aggregate
from fleetscope.agent.processes.sample import ProcessSample


@dataclass(frozen=True, slots=True)
class GroupCounters:
    """Counters accumulated since the tracker began; zero is a real value here (nothing
    happened yet that we could attribute), not a stand-in for unknown."""

    cpu_user_seconds_total: float = 0.0
    cpu_system_seconds_total: float = 0.0
    read_bytes_total: int = 0
    write_bytes_total: int = 0
    minor_faults_total: int = 0
    major_faults_total: int = 0
    voluntary_ctx_switches_total: int = 0
    nonvoluntary_ctx_switches_total: int = 0


@dataclass(frozen=True, slots=True)
class TrackedGroup:
    """A group's counters and, when any of its processes is alive, this scan's gauges."""

    name: str
    counters: GroupCounters
    current: GroupSnapshot | None


def _counter_values(s: ProcessSample) -> tuple[float | None, ...]:
    # Same order as GroupCounters' fields.
    return (
        s.cpu_user_seconds_total,
        s.cpu_system_seconds_total,
        s.read_bytes_total,
        s.write_bytes_total,
        s.minor_faults_total,
        s.major_faults_total,
        s.voluntary_ctx_switches_total,
        s.nonvoluntary_ctx_switches_total,
    )


_N_COUNTERS = 8
# cpu in float seconds, the rest in ints: the accumulators keep those types, so byte counters
# stay exact past 2**53.
_ZERO: tuple[float | None, ...] = (0.0, 0.0, 0, 0, 0, 0, 0, 0)


def _zero_accum() -> list[float]:
    return [0.0, 0.0, 0, 0, 0, 0, 0, 0]


class _Tracked:
    __slots__ = ("group", "last", "sample")

    def __init__(
        self, group: str | None, last: tuple[float | None, ...], sample: ProcessSample | None
    ) -> None:
        self.group = group
        self.last = last
        # The record last seen: ProcFS hands back the same object for a process whose files
        # did not change, which then needs no look at its counters.
        self.sample = sample


class GroupTracker:
    """Monotonic per-group counters over a sequence of scans (process-exporter's
    proc/tracker.go + proc/grouper.go, v0.7.10).

    Semantics, per call of `update(samples, now=...)`:

    * A process is known by (pid, start_token). A pid that comes back with another start
      token is a new process (pid reuse): the old one is treated as exited.
    * The first `update` sets `first_update_at = now`.
    * The first time a process is seen it is named once (ProcessGrouper.match; unmatched and
      `track_children`: the group of its tracked parent, or of a matched ancestor seen in the
      same scan), and the name is kept for its whole life, as process-exporter names each
      process once. Processes no rule takes are remembered as ignored, not re-matched.
    * Counting at first sight: if the process started after `first_update_at`
      (start_time_seconds > first_update_at) its whole history happened while we watched, so
      all its counters are added (process-exporter's `idinfo.StartTime.After(firstUpdateAt)`).
      Otherwise it existed before we began and only what it does from now on counts: its
      current values are the baseline. So at the first update every counter is 0, which is
      what Debian's process-exporter prints for the upstream fixture.
    * On later scans each counter adds `max(0, new - previous)`. A decrease, which the
      kernel should never show for one process, is clamped to 0 and the new value becomes
      the baseline (process-exporter's uint64 subtraction would wrap instead). A counter that
      is None (io unreadable) adds nothing; the last known value stays the baseline.
    * When a process exits its contribution stays in its group's counters; a group whose
      processes have all gone is still reported, with `current=None`.

    Because every addition is >= 0, every counter of every group is non-decreasing.
    `start_time_seconds` is good to about a second (btime is whole seconds), so a process
    started within a second of `first_update_at` may be counted either way. The caller
    passes `now` as the unix time the scan started (an injected clock, easy to test).
    """

    def __init__(self, grouper: ProcessGrouper) -> None:
        self.grouper = grouper
        self.first_update_at: float | None = None
        self._tracked: dict[tuple[int, int], _Tracked] = {}
        self._accum: dict[str, list[float]] = {}
        self._snapshots: dict[str, tuple[tuple[ProcessSample, ...], GroupSnapshot]] = {}

    def update(
        self, samples: Mapping[int, ProcessSample], *, now: float
    ) -> dict[str, TrackedGroup]:
        if self.first_update_at is None:
            self.first_update_at = now
        first_update_at = self.first_update_at
        previous = self._tracked
        current: dict[tuple[int, int], _Tracked] = {}
        new: list[ProcessSample] = []
        for sample in samples.values():
            identity = (sample.pid, sample.start_token)
            known = previous.get(identity)
            if known is None:
                new.append(sample)
                continue
            if sample is known.sample:
                current[identity] = known
                continue
            known.sample = sample
            values = _counter_values(sample)
            # Most processes did nothing since the last scan: equal counters add nothing.
            if values != known.last:
                if known.group is not None:
                    self._add(known.group, known.last, values)
                known.last = (
                    values
                    if None not in values
                    else tuple(
                        v if v is not None else o for v, o in zip(values, known.last, strict=True)
                    )
                )
            current[identity] = known

        # Name new processes after the known ones are in `current`, so a child can find a
        # tracked parent; parents new in this scan are named first (ancestors before
        # descendants, as checkAncestry recurses).
        by_pid = {s.pid: s for s in new}
        for sample in new:
            self._name_new(sample, by_pid, current, samples, first_update_at)

        self._tracked = current
        assignment = {ident[0]: t.group for ident, t in current.items() if t.group is not None}
        gauges = aggregate(samples, assignment, self._snapshots)
        return {
            name: TrackedGroup(name=name, counters=self._counters(name), current=gauges.get(name))
            for name in sorted(self._accum.keys() | gauges.keys())
        }

    def _name_new(
        self,
        sample: ProcessSample,
        new_by_pid: dict[int, ProcessSample],
        current: dict[tuple[int, int], _Tracked],
        samples: Mapping[int, ProcessSample],
        first_update_at: float,
    ) -> _Tracked:
        done = current.get(sample.identity)
        if done is not None:
            return done
        group = self.grouper.match(sample)
        if group is None and self.grouper.track_children:
            parent = samples.get(sample.ppid)
            if parent is not None and parent.pid != sample.pid:
                tracked_parent = current.get(parent.identity)
                if tracked_parent is None and parent.pid in new_by_pid:
                    # Placeholder first, so a ppid cycle in a corrupt snapshot terminates.
                    current[sample.identity] = _Tracked(None, _ZERO, None)
                    tracked_parent = self._name_new(
                        parent, new_by_pid, current, samples, first_update_at
                    )
                if tracked_parent is not None:
                    group = tracked_parent.group
        values = _counter_values(sample)
        baseline = tuple(v if v is not None else z for v, z in zip(values, _ZERO, strict=True))
        if group is not None:
            self._accum.setdefault(group, _zero_accum())
            if sample.start_time_seconds > first_update_at:
                self._add(group, _ZERO, values)
        tracked = _Tracked(group, baseline, sample)
        current[sample.identity] = tracked
        return tracked

    def _add(
        self, group: str, old: tuple[float | None, ...], new: tuple[float | None, ...]
    ) -> None:
        accum = self._accum.setdefault(group, _zero_accum())
        for i in range(_N_COUNTERS):
            before, after = old[i], new[i]
            if before is not None and after is not None and after > before:
                accum[i] += after - before

    def _counters(self, name: str) -> GroupCounters:
        a = self._accum.get(name)
        if a is None:
            return GroupCounters()
        return GroupCounters(
            cpu_user_seconds_total=a[0],
            cpu_system_seconds_total=a[1],
            read_bytes_total=int(a[2]),
            write_bytes_total=int(a[3]),
            minor_faults_total=int(a[4]),
            major_faults_total=int(a[5]),
            voluntary_ctx_switches_total=int(a[6]),
            nonvoluntary_ctx_switches_total=int(a[7]),
        )
