"""GroupTracker and top-N over ordered snapshots of fake process tables.

Each snapshot is written as a /proc tree and read back through ProcFS, as telegraf's
testcases/<case>/proc0..N do, so the parsers, the reader and the tracker are tested together.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from fleetscope.agent.processes.groups import GroupSnapshot, ProcessGrouper, aggregate
from fleetscope.agent.processes.sample import ProcessSample
from fleetscope.agent.processes.settings import ProcessGroupsSettings
from fleetscope.agent.processes.top import (
    cpu_rates,
    highest_cpu_rates,
    top_by_cpu,
    top_by_memory,
)
from fleetscope.agent.processes.tracker import GroupCounters, GroupTracker, TrackedGroup
from fleetscope.config.settings import settings_from
from tests.proc_tree import PAGE_SIZE, FakeProc, FlakyProcFS, write_proc_tree

BTIME = 1_700_000_000
# The tracker starts 1000 s after boot; fake processes with start_ticks below 100_000 were
# already running then.
T0 = BTIME + 1000.0


class Snapshots:
    """Writes proc0, proc1, ... under tmp_path and reads each back."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.count = 0

    def read(
        self, procs: list[FakeProc], fail: dict[tuple[int, str], OSError] | None = None
    ) -> dict[int, ProcessSample]:
        root = write_proc_tree(self.tmp_path / f"proc{self.count}", procs, btime=BTIME)
        self.count += 1
        return FlakyProcFS(root, fail or {}).processes(page_size=PAGE_SIZE)


@pytest.fixture
def snaps(tmp_path: Path) -> Snapshots:
    return Snapshots(tmp_path)


def web(pid: int, **kw: int) -> FakeProc:
    return FakeProc(pid=pid, comm="nginx", cmdline=("nginx: worker",), **kw)  # type: ignore[arg-type]


def counters(groups: dict[str, TrackedGroup], name: str) -> GroupCounters:
    return groups[name].counters


def test_exits_and_pid_reuse_keep_counters_monotonic(snaps: Snapshots) -> None:
    tracker = GroupTracker(ProcessGrouper())

    # t0: both workers predate the tracker, so nothing is counted yet (process-exporter
    # prints 0 for every counter at its first scrape).
    g = tracker.update(
        snaps.read([web(10, utime_ticks=100, read_bytes=1000), web(11, utime_ticks=50)]), now=T0
    )
    assert counters(g, "nginx") == GroupCounters()
    assert g["nginx"].current is not None and g["nginx"].current.num_procs == 2

    # t1: deltas since first sight.
    g = tracker.update(
        snaps.read(
            [web(10, utime_ticks=150, read_bytes=1500), web(11, utime_ticks=80, stime_ticks=7)]
        ),
        now=T0 + 10,
    )
    c = counters(g, "nginx")
    assert c.cpu_user_seconds_total == pytest.approx(0.8)
    assert c.cpu_system_seconds_total == pytest.approx(0.07)
    assert c.read_bytes_total == 500

    # t2: pid 11 exits; what it did stays in the group.
    g = tracker.update(snaps.read([web(10, utime_ticks=160, read_bytes=1500)]), now=T0 + 20)
    c = counters(g, "nginx")
    assert c.cpu_user_seconds_total == pytest.approx(0.9)
    assert c.cpu_system_seconds_total == pytest.approx(0.07)
    assert g["nginx"].current is not None and g["nginx"].current.num_procs == 1

    # t3: pid 11 is reused by a new worker that started after the tracker did (start ticks
    # 101_500 = T0 + 15 s) and has fewer ticks than the old pid 11 had: it counts from its
    # start, never as a negative delta against the old process.
    g = tracker.update(
        snaps.read(
            [web(10, utime_ticks=160), web(11, start_ticks=101_500, utime_ticks=20, read_bytes=64)]
        ),
        now=T0 + 30,
    )
    c = counters(g, "nginx")
    assert c.cpu_user_seconds_total == pytest.approx(1.1)
    assert c.read_bytes_total == 564

    # t4: everybody is gone; the group is still reported, counters intact, no gauges.
    g = tracker.update(snaps.read([FakeProc(1, "init", cmdline=("/sbin/init",))]), now=T0 + 40)
    assert g["nginx"].current is None
    assert counters(g, "nginx") == c


def test_process_first_seen_late_counts_from_first_sight(snaps: Snapshots) -> None:
    tracker = GroupTracker(ProcessGrouper())
    tracker.update(snaps.read([web(10)]), now=T0)
    # pid 12 started before the tracker (start ticks 500) but is first seen now, e.g. the
    # first scan lost the race with it: its 9 s of history are not ours to count.
    g = tracker.update(
        snaps.read([web(10), web(12, start_ticks=500, utime_ticks=900)]), now=T0 + 10
    )
    assert counters(g, "nginx").cpu_user_seconds_total == 0
    g = tracker.update(
        snaps.read([web(10), web(12, start_ticks=500, utime_ticks=950)]), now=T0 + 20
    )
    assert counters(g, "nginx").cpu_user_seconds_total == pytest.approx(0.5)


def test_process_vanishing_during_the_read(snaps: Snapshots) -> None:
    tracker = GroupTracker(ProcessGrouper())
    tracker.update(snaps.read([web(10, utime_ticks=100), web(11, utime_ticks=100)]), now=T0)
    # pid 11 disappears between reading its stat and its status: the read skips it, which
    # the tracker sees as an exit.
    gone = {(11, "status"): FileNotFoundError(2, "No such file or directory")}
    samples = snaps.read([web(10, utime_ticks=120), web(11, utime_ticks=130)], fail=gone)
    assert sorted(samples) == [10]
    g = tracker.update(samples, now=T0 + 10)
    assert counters(g, "nginx").cpu_user_seconds_total == pytest.approx(0.2)
    assert g["nginx"].current is not None and g["nginx"].current.num_procs == 1
    # Had it only been missed (the same process, seen again), it is taken as new at its
    # second sighting: it predates the tracker, so it restarts from a baseline. Its CPU in
    # the missed interval is lost, but nothing is counted twice and nothing goes backwards.
    g = tracker.update(
        snaps.read([web(10, utime_ticks=120), web(11, utime_ticks=140)]), now=T0 + 20
    )
    assert counters(g, "nginx").cpu_user_seconds_total == pytest.approx(0.2)
    g = tracker.update(
        snaps.read([web(10, utime_ticks=120), web(11, utime_ticks=150)]), now=T0 + 30
    )
    assert counters(g, "nginx").cpu_user_seconds_total == pytest.approx(0.3)


def test_started_after_first_update_counts_whole_history(snaps: Snapshots) -> None:
    tracker = GroupTracker(ProcessGrouper())
    tracker.update(snaps.read([web(10)]), now=T0)
    born_at_t0 = web(20, start_ticks=100_000, utime_ticks=300)  # exactly T0: not after it
    born_later = web(21, start_ticks=100_001, utime_ticks=40, majflt=3, voluntary=9)
    g = tracker.update(snaps.read([web(10), born_at_t0, born_later]), now=T0 + 10)
    c = counters(g, "nginx")
    assert c.cpu_user_seconds_total == pytest.approx(0.4)
    assert c.major_faults_total == 3
    assert c.voluntary_ctx_switches_total == 9


def test_name_is_fixed_at_first_sight_and_unmatched_stay_ignored() -> None:
    settings = settings_from(
        ProcessGroupsSettings,
        {"process_names": [{"name": "{{.Comm}}", "comm": ["bash", "python3"]}]},
    )
    tracker = GroupTracker(ProcessGrouper(settings))
    shell = _sample(30, "bash", cpu=1.0)
    other = _sample(31, "sshd", cpu=1.0, ppid=1)
    g = tracker.update({30: shell, 31: other}, now=T0)
    assert set(g) == {"bash"}
    # pid 30 exec()s python3: same process, so it stays in "bash", like process-exporter
    # without -recheck.
    g = tracker.update({30: replace(shell, name="python3", cpu_user_seconds_total=3.0)}, now=T0 + 1)
    assert set(g) == {"bash"}
    assert g["bash"].counters.cpu_user_seconds_total == 2.0


def test_children_of_tracked_parents_join_their_group() -> None:
    settings = settings_from(ProcessGroupsSettings, {"process_names": [{"comm": ["postgres"]}]})
    tracker = GroupTracker(ProcessGrouper(settings))
    tracker.update({100: _sample(100, "postgres", cmd=("/usr/bin/postgres",))}, now=T0)
    child = _sample(101, "sh", ppid=100, start=T0 + 5, cpu=2.0)
    grandchild = _sample(102, "psql", ppid=101, start=T0 + 6, cpu=1.0)
    stranger = _sample(103, "cron", ppid=1, start=T0 + 6, cpu=5.0)
    samples = {100: _sample(100, "postgres", cmd=("/usr/bin/postgres",))}
    samples |= {102: grandchild, 101: child, 103: stranger}  # child listed after grandchild
    g = tracker.update(samples, now=T0 + 10)
    assert set(g) == {"postgres"}
    current = g["postgres"].current
    assert current is not None and current.num_procs == 3
    assert g["postgres"].counters.cpu_user_seconds_total == 3.0


def test_counter_decrease_is_clamped_and_rebased() -> None:
    tracker = GroupTracker(ProcessGrouper())
    tracker.update({1: _sample(1, "a", cpu=5.0)}, now=T0)
    g = tracker.update({1: replace(_sample(1, "a", cpu=4.0), read_bytes_total=None)}, now=T0 + 1)
    assert g["a"].counters.cpu_user_seconds_total == 0
    g = tracker.update({1: _sample(1, "a", cpu=4.5)}, now=T0 + 2)
    assert g["a"].counters.cpu_user_seconds_total == 0.5
    assert g["a"].counters.read_bytes_total == 0


def test_random_sequences_never_decrease_any_counter() -> None:
    rng = random.Random(20240611)
    tracker = GroupTracker(ProcessGrouper())
    alive: dict[int, ProcessSample] = {}
    seen: dict[str, GroupCounters] = {}
    next_start = T0 - 500
    for step in range(200):
        now = T0 + step
        for pid in list(alive):
            p = alive[pid]
            if rng.random() < 0.1:
                del alive[pid]
                continue
            alive[pid] = replace(
                p,
                cpu_user_seconds_total=p.cpu_user_seconds_total + rng.choice([0, 0.01, 0.3]),
                read_bytes_total=None if rng.random() < 0.1 else step * 100,
                minor_faults_total=(p.minor_faults_total or 0) + rng.randint(0, 5),
            )
        for _ in range(rng.randint(0, 3)):
            pid = rng.randint(2, 40)  # small pid space: reuse is frequent
            next_start += 0.5
            alive[pid] = _sample(
                pid, rng.choice(["a", "b", "c"]), cpu=rng.random(), start=next_start
            )
        groups = tracker.update(dict(alive), now=now)
        for name, group in groups.items():
            before = seen.get(name, GroupCounters())
            for field in GroupCounters.__dataclass_fields__:
                assert getattr(group.counters, field) >= getattr(before, field), (step, name)
            seen[name] = group.counters
        assert set(seen) <= set(groups)


def _sample(
    pid: int,
    name: str,
    *,
    cpu: float = 0.0,
    ppid: int = 1,
    start: float = T0 - 100,
    cmd: tuple[str, ...] | None = None,
    rss: int = 4096,
) -> ProcessSample:
    return ProcessSample(
        pid=pid,
        ppid=ppid,
        name=name,
        cmdline=cmd if cmd is not None else (name,),
        exe=None,
        uid=0,
        username="root",
        state="S",
        start_time_seconds=start,
        start_token=round(start * 100),
        cpu_user_seconds_total=cpu,
        cpu_system_seconds_total=0.0,
        resident_bytes=rss,
        virtual_bytes=rss * 2,
        swap_bytes=None,
        read_bytes_total=0,
        write_bytes_total=0,
        num_threads=1,
        open_fds=None,
        max_fds=None,
        voluntary_ctx_switches_total=None,
        nonvoluntary_ctx_switches_total=None,
        minor_faults_total=0,
        major_faults_total=0,
    )


def test_top_by_cpu_rates_and_pid_reuse() -> None:
    before = {
        1: _sample(1, "steady", cpu=10.0),
        2: _sample(2, "old", cpu=500.0),
        3: _sample(3, "idle", cpu=1.0),
    }
    after = {
        1: _sample(1, "steady", cpu=15.0),
        # pid 2 reused by a process born during the interval: its 2 s since start, not
        # 2 - 500 against the old one.
        2: _sample(2, "new", cpu=2.0, start=T0 + 3),
        3: _sample(3, "idle", cpu=1.0),
        # Running before the first scan but absent from it: no baseline, left out.
        4: _sample(4, "missed", cpu=900.0, start=T0 - 50),
        # Born during the interval.
        5: _sample(5, "burst", cpu=3.0, start=T0 + 1),
    }
    top = top_by_cpu(before, T0, after, T0 + 10, n=3)
    assert [(r.sample.name, r.cores, r.since_start) for r in top] == [
        ("steady", pytest.approx(0.5), False),
        ("burst", pytest.approx(0.3), True),
        ("new", pytest.approx(0.2), True),
    ]
    everything = top_by_cpu(before, T0, after, T0 + 10, n=10)
    assert all(r.cores >= 0 for r in everything)
    assert "missed" not in {r.sample.name for r in everything}
    with pytest.raises(ValueError, match="later than"):
        top_by_cpu(before, T0, after, T0)


def test_top_by_cpu_pid_reused_by_an_older_looking_process_is_skipped() -> None:
    before = {7: _sample(7, "a", cpu=10.0, start=T0 - 100)}
    # Same pid, other start token, but a start time before the first scan: impossible for a
    # true reuse, so there is no sound baseline.
    after = {7: _sample(7, "b", cpu=1.0, start=T0 - 90)}
    assert top_by_cpu(before, T0, after, T0 + 10) == []


def test_top_by_memory() -> None:
    samples = {i: _sample(i, f"p{i}", rss=r) for i, r in [(1, 10), (2, 30), (3, 20), (4, 30)]}
    assert [s.pid for s in top_by_memory(samples, n=3)] == [2, 4, 3]


def test_highest_cpu_rates_is_the_head_of_all_rates_sorted_ties_in_order() -> None:
    rng = random.Random(7)
    before = {pid: _sample(pid, f"p{pid}", cpu=float(rng.randrange(5))) for pid in range(1, 60)}
    after = {
        # The same record for an idle process (as ProcFS hands back), equal CPU for others,
        # so that many rates tie at 0 and at each step.
        pid: old
        if pid % 3 == 0
        else replace(old, cpu_user_seconds_total=old.cpu_user_seconds_total + rng.randrange(3))
        for pid, old in before.items()
    }
    after[99] = _sample(99, "born", cpu=1.0, start=T0 + 2)
    for n in (0, 1, 5, 10, 100):
        expected = sorted(
            cpu_rates(before, T0, after, T0 + 10), key=lambda r: r.cores, reverse=True
        )
        assert highest_cpu_rates(before, T0, after, T0 + 10, n) == expected[:n]
    with pytest.raises(ValueError, match="later than"):
        highest_cpu_rates(before, T0, after, T0, 3)


def test_aggregate_reuses_a_group_snapshot_while_its_members_are_equal() -> None:
    samples = {i: _sample(i, "web" if i < 4 else "db", cpu=float(i)) for i in range(1, 7)}
    assignment = {pid: s.name for pid, s in samples.items()}
    previous: dict[str, tuple[tuple[ProcessSample, ...], GroupSnapshot]] = {}
    first = aggregate(samples, assignment, previous)
    assert first == aggregate(samples, assignment)
    again = aggregate(samples, assignment, previous)
    assert again["web"] is first["web"] and again["db"] is first["db"]
    # One member changed: that group is added up again; the other is reused.
    changed = {**samples, 5: replace(samples[5], resident_bytes=1)}
    third = aggregate(changed, assignment, previous)
    assert third == aggregate(changed, assignment)
    assert third["web"] is first["web"] and third["db"] != first["db"]
    # A group without members any more is forgotten.
    aggregate({1: samples[1]}, {1: "web"}, previous)
    assert set(previous) == {"web"}


def test_tracker_given_the_same_records_counts_as_given_fresh_copies() -> None:
    # ProcFS hands back an idle process's record itself; the tracker skips those, which must
    # count exactly what fresh, equal records count.
    rng = random.Random(11)
    same, fresh = GroupTracker(ProcessGrouper()), GroupTracker(ProcessGrouper())
    samples = {pid: _sample(pid, f"g{pid % 4}", cpu=1.0) for pid in range(1, 30)}
    for step in range(8):
        samples = {
            pid: s
            if rng.random() < 0.6
            else replace(s, cpu_user_seconds_total=s.cpu_user_seconds_total + rng.random())
            for pid, s in samples.items()
        }
        now = T0 + 10 * step
        copies = {pid: replace(s) for pid, s in samples.items()}
        assert same.update(samples, now=now) == fresh.update(copies, now=now)
