"""Name processes with process-exporter's rules and add them up per group. Pure: no I/O.

The matching follows process-exporter's config/config.go (v0.7.10): rules are tried in order
and the first match names the process; ExeBase/ExeFull come from argv[0] (comm when argv is
empty); cmdline regexes search argv joined by single spaces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fleetscope.agent.processes.sample import ProcessSample
from fleetscope.agent.processes.settings import (
    ProcessGroupRule,
    ProcessGroupsSettings,
    TemplatePart,
    parse_name_template,
)
from fleetscope.model.text import escape_controls

# What Go's text/template prints for a missing map key, e.g. {{.Matches.X}} when no cmdline
# regex captured X.
GO_NO_VALUE = "<no value>"

# process-exporter's namedprocess_namegroup_states buckets (proc/read.go): R Running,
# S Sleeping, D Waiting, Z Zombie, everything else (T, t, I, X, ...) Other.
_STATE_BUCKETS = {"R": "Running", "S": "Sleeping", "D": "Waiting", "Z": "Zombie"}
STATES = ("Running", "Sleeping", "Waiting", "Zombie", "Other")


def go_base(path: str) -> str:
    """Go's filepath.Base, which process-exporter applies to argv[0]: trailing slashes are
    dropped, "" becomes "." and all-slashes becomes "/"."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rsplit("/", 1)[-1]


def effective_user(sample: ProcessSample) -> str:
    """Username, or the uid as a string when it has no name (process-exporter lookupUid)."""
    if sample.username is not None:
        return sample.username
    return "" if sample.uid is None else str(sample.uid)


class _CompiledRule:
    __slots__ = ("comms", "exes", "name", "regexes", "users")

    def __init__(self, rule: ProcessGroupRule) -> None:
        self.comms = frozenset(rule.comm) if rule.comm is not None else None
        # basename -> full path that argv[0] must equal, or None when any path will do.
        self.exes: dict[str, str | None] | None = None
        if rule.exe is not None:
            self.exes = {go_base(e) if "/" in e else e: e if "/" in e else None for e in rule.exe}
        self.regexes = tuple(re.compile(p) for p in rule.cmdline or ())
        self.users = frozenset(rule.user) if rule.user is not None else None
        self.name: tuple[TemplatePart, ...] = parse_name_template(rule.name)

    def _selects(self, sample: ProcessSample) -> bool:
        if self.comms is not None and sample.name not in self.comms:
            return False
        if self.exes is not None:
            if not sample.cmdline:
                return False
            argv0 = sample.cmdline[0]
            base = go_base(argv0)
            if base not in self.exes:
                return False
            full = self.exes[base]
            if full is not None and full != argv0:
                return False
        return self.users is None or effective_user(sample) in self.users

    def match(self, sample: ProcessSample) -> str | None:
        if not self._selects(sample):
            return None
        captures: dict[str, str] = {}
        if self.regexes:
            joined = " ".join(sample.cmdline)
            for regex in self.regexes:
                found = regex.search(joined)
                if found is None:
                    return None
                # Go's FindStringSubmatch gives "" for a group that did not take part.
                captures.update({k: v or "" for k, v in found.groupdict().items()})
        return self._render(sample, captures)

    def _render(self, sample: ProcessSample, captures: dict[str, str]) -> str:
        exe_full = sample.cmdline[0] if sample.cmdline else sample.name
        out: list[str] = []
        for part in self.name:
            if part.field is None:
                out.append(part.literal)
            elif part.field == "Comm":
                out.append(sample.name)
            elif part.field == "ExeBase":
                out.append(go_base(exe_full) if sample.cmdline else sample.name)
            elif part.field == "ExeFull":
                out.append(exe_full)
            elif part.field == "Username":
                out.append(effective_user(sample))
            elif part.field == "PID":
                out.append(str(sample.pid))
            else:  # Matches, checked by parse_name_template
                out.append(captures.get(part.key or "", GO_NO_VALUE))
        return "".join(out)


class ProcessGrouper:
    """Compiled rules: `match` names one process on its own, `assign` names a whole snapshot
    (children resolved). Immutable after construction."""

    def __init__(self, settings: ProcessGroupsSettings | None = None) -> None:
        settings = settings or ProcessGroupsSettings()
        self.track_children = settings.track_children
        self._rules = tuple(_CompiledRule(r) for r in settings.process_names)

    def match(self, sample: ProcessSample) -> str | None:
        """The group the first matching rule gives, None if no rule matches. With no rules
        the group is the comm."""
        if not self._rules:
            return escape_controls(sample.name)
        for rule in self._rules:
            name = rule.match(sample)
            if name is not None:
                return escape_controls(name)
        return None

    def assign(self, samples: Mapping[int, ProcessSample]) -> dict[int, str]:
        """pid -> group for every process that has one. With track_children, an unmatched
        process takes the group of its nearest matched ancestor present in `samples`; this is
        process-exporter's checkAncestry without its memory of earlier scans (GroupTracker
        has that memory)."""
        matched: dict[int, str | None] = {pid: self.match(s) for pid, s in samples.items()}
        if self.track_children:
            for pid in samples:
                if matched[pid] is None:
                    matched[pid] = self._from_ancestors(pid, samples, matched)
        return {pid: name for pid, name in matched.items() if name is not None}

    @staticmethod
    def _from_ancestors(
        pid: int, samples: Mapping[int, ProcessSample], matched: dict[int, str | None]
    ) -> str | None:
        seen = {pid}
        parent = samples[pid].ppid
        while parent in samples and parent not in seen:
            if matched[parent] is not None:
                return matched[parent]
            seen.add(parent)
            parent = samples[parent].ppid
        return None


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    """One group's processes at one scan, added up.

    The `_total` fields are sums of each live process's lifetime counters, so they DROP when a
    process exits; they are what one snapshot holds. For counters that only grow, as
    process-exporter exports them, use GroupTracker. An optional field sums the processes that
    reported it and is None when none did; `partial_procs` counts processes missing any of
    io, fds or fd limit (process-exporter's scrape_partial_errors, per group).

    `states` counts processes. process-exporter (with its default -threads) also adds the
    state of each thread of a multi-threaded process, and sums context switches over
    /proc/<pid>/task/*, where ours are the leader thread's from /proc/<pid>/status; we do
    not read per-thread files, which would multiply the files opened per scan.
    """

    name: str
    num_procs: int
    num_threads: int
    cpu_user_seconds_total: float
    cpu_system_seconds_total: float
    resident_bytes: int
    virtual_bytes: int
    swap_bytes: int | None
    read_bytes_total: int | None
    write_bytes_total: int | None
    minor_faults_total: int | None
    major_faults_total: int | None
    voluntary_ctx_switches_total: int | None
    nonvoluntary_ctx_switches_total: int | None
    open_fds: int | None
    worst_fd_ratio: float | None
    oldest_start_time_seconds: float
    states: dict[str, int]
    partial_procs: int


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return value if total is None else total + value


def _snapshot(name: str, procs: list[ProcessSample]) -> GroupSnapshot:
    # One pass over the processes (this runs for every group on every scan). It was chosen
    # over a generator per field as faster; today that holds only for a one-process group,
    # and larger groups are slightly slower (docs/code-choices.md). An optional sum stays
    # None until a process reports it.
    states = dict.fromkeys(STATES, 0)
    worst: float | None = None
    partial = 0
    threads = resident = virtual = 0
    user = system = 0.0
    swap = read = write = minor = major = voluntary = nonvoluntary = fds = None
    oldest = procs[0].start_time_seconds
    for p in procs:
        states[_STATE_BUCKETS.get(p.state or "", "Other")] += 1
        open_fds, max_fds, read_bytes = p.open_fds, p.max_fds, p.read_bytes_total
        if open_fds is not None and max_fds:
            ratio = open_fds / max_fds
            if worst is None or ratio > worst:
                worst = ratio
        if read_bytes is None or open_fds is None or max_fds is None:
            partial += 1
        threads += p.num_threads
        user += p.cpu_user_seconds_total
        system += p.cpu_system_seconds_total
        resident += p.resident_bytes
        virtual += p.virtual_bytes
        swap = _add(swap, p.swap_bytes)
        read = _add(read, read_bytes)
        write = _add(write, p.write_bytes_total)
        minor = _add(minor, p.minor_faults_total)
        major = _add(major, p.major_faults_total)
        voluntary = _add(voluntary, p.voluntary_ctx_switches_total)
        nonvoluntary = _add(nonvoluntary, p.nonvoluntary_ctx_switches_total)
        fds = _add(fds, open_fds)
        oldest = min(oldest, p.start_time_seconds)
    return GroupSnapshot(
        name=name,
        num_procs=len(procs),
        num_threads=threads,
        cpu_user_seconds_total=user,
        cpu_system_seconds_total=system,
        resident_bytes=resident,
        virtual_bytes=virtual,
        swap_bytes=swap,
        read_bytes_total=read,
        write_bytes_total=write,
        minor_faults_total=minor,
        major_faults_total=major,
        voluntary_ctx_switches_total=voluntary,
        nonvoluntary_ctx_switches_total=nonvoluntary,
        open_fds=fds,
        worst_fd_ratio=worst,
        oldest_start_time_seconds=oldest,
        states=states,
        partial_procs=partial,
    )


def aggregate(
    samples: Mapping[int, ProcessSample],
    assignment: Mapping[int, str],
    previous: dict[str, tuple[tuple[ProcessSample, ...], GroupSnapshot]] | None = None,
) -> dict[str, GroupSnapshot]:
    """Add up the processes of each group; `assignment` is pid -> group (ProcessGrouper.assign).
    Processes without a group are left out.

    `previous`, kept by the caller between calls, holds each group's members and snapshot
    from the last call: a group whose members are equal (most often the very same records,
    ProcFS reusing those of idle processes) gets that snapshot again, which is what adding
    them up would give. It is updated to this call's groups."""
    members: dict[str, list[ProcessSample]] = {}
    for pid, group in assignment.items():
        sample = samples.get(pid)
        if sample is not None:
            members.setdefault(group, []).append(sample)
    if previous is None:
        return {name: _snapshot(name, procs) for name, procs in members.items()}
    result: dict[str, GroupSnapshot] = {}
    for name, procs in members.items():
        key = tuple(procs)
        last = previous.get(name)
        if last is not None and last[0] == key:
            result[name] = last[1]
        else:
            result[name] = _snapshot(name, procs)
            previous[name] = (key, result[name])
    for gone in previous.keys() - members.keys():
        del previous[gone]
    return result


def group_processes(
    samples: Mapping[int, ProcessSample], grouper: ProcessGrouper
) -> dict[str, GroupSnapshot]:
    """One snapshot's groups: assign then aggregate."""
    return aggregate(samples, grouper.assign(samples))
