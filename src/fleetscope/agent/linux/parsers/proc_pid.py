"""Parsers for the per-process files /proc/<pid>/{stat,status,io,cmdline,comm,limits}.

Field positions and meanings follow proc(5) and fs/proc/array.c; the unit rules are those of
prometheus/procfs (proc_stat.go, proc_status.go, proc_io.go, proc_limits.go), which
process-exporter builds on, so our numbers agree with its metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError
from fleetscope.agent.linux.parsers.stat import USER_HZ

# status reports memory as "<n> kB", which the kernel means as KiB (fs/proc/task_mmu.c).
BYTES_PER_KB = 1024

# Index of each /proc/<pid>/stat field in the list of fields that follow the closing ")" of
# comm, i.e. proc(5) field number minus 3 (field 3, state, is index 0).
_STATE = 0
_PPID = 1
_MINFLT = 7
_MAJFLT = 9
_UTIME = 11
_STIME = 12
_NUM_THREADS = 17
_STARTTIME = 19
_VSIZE = 20
_RSS = 21


@dataclass(frozen=True, slots=True)
class PidStat:
    """/proc/<pid>/stat. `start_ticks` is the raw starttime (clock ticks after boot): together
    with the pid it names one process exactly, where the derived seconds would carry float and
    btime jitter (procfs and process-exporter key processes on the same pair)."""

    pid: int
    comm: str
    state: str
    ppid: int
    minor_faults_total: int
    major_faults_total: int
    cpu_user_seconds_total: float
    cpu_system_seconds_total: float
    num_threads: int
    start_ticks: int
    start_seconds_since_boot: float
    virtual_bytes: int
    resident_bytes: int


def parse_pid_stat(text: str, page_size: int, source: str = "/proc/<pid>/stat") -> PidStat:
    """Parse one stat line. `page_size` converts rss pages to bytes: it is the page size of the
    host the file came from (os.sysconf("SC_PAGE_SIZE") on a live host), not a constant."""
    line = text.rstrip("\n")
    # comm is whatever the program set (up to 15 bytes) and may itself contain spaces and
    # ")"; the kernel writes it between the first "(" and the LAST ")" of the line.
    open_paren = line.find("(")
    close_paren = line.rfind(")")
    if open_paren < 0 or close_paren < open_paren:
        raise ParseError(source, 1, line, "no '(comm)' in stat line")
    fields = line[close_paren + 1 :].split()
    if len(fields) <= _RSS:
        raise ParseError(source, 1, line, f"{len(fields) + 2} fields, need at least {_RSS + 3}")
    try:
        pid = int(line[:open_paren])
        # Fields 4..24 (ppid to rss) as numbers, indexed by _PPID.._RSS; map(int) rather than
        # a list comprehension and a local accessor, which was slower (docs/code-choices.md).
        numbers = list(map(int, fields[1 : _RSS + 1]))
    except ValueError as exc:
        raise ParseError(source, 1, line, "a numeric field is not an integer") from exc
    start_ticks = numbers[_STARTTIME - 1]
    return PidStat(
        pid,
        line[open_paren + 1 : close_paren],
        fields[_STATE],
        numbers[_PPID - 1],
        numbers[_MINFLT - 1],
        numbers[_MAJFLT - 1],
        # Divide by USER_HZ rather than multiply by 0.01; see USER_HZ in stat.py beside this file.
        numbers[_UTIME - 1] / USER_HZ,
        numbers[_STIME - 1] / USER_HZ,
        numbers[_NUM_THREADS - 1],
        start_ticks,
        start_ticks / USER_HZ,
        numbers[_VSIZE - 1],
        numbers[_RSS - 1] * page_size,
    )


@dataclass(frozen=True, slots=True)
class PidStatus:
    """/proc/<pid>/status. Kernel threads have no Vm* lines, so memory is None for them;
    VmSwap appeared in 2.6.34. The context-switch counts are the thread-group leader's only
    (fs/proc/array.c task_context_switch_counts): process-exporter sums /proc/<pid>/task/*
    instead when it tracks threads, so its counters can be larger for threaded programs."""

    uid_real: int
    uid_effective: int
    gid_real: int
    gid_effective: int
    threads: int | None
    resident_bytes: int | None
    swap_bytes: int | None
    voluntary_ctxt_switches_total: int | None
    nonvoluntary_ctxt_switches_total: int | None


_STATUS_NUMBERS = (
    "Threads",
    "VmRSS",
    "VmSwap",
    "voluntary_ctxt_switches",
    "nonvoluntary_ctxt_switches",
)


def _status_line(text: str, key: str) -> tuple[str, int] | None:
    """(the `key:` line, its offset in the text), or None.

    status has about 55 lines and a scan needs 7 of them: finding each one costs less than
    splitting every line (docs/code-choices.md). Lines not needed are not looked at, as
    prometheus/procfs's status parser ignores the keys it does not know."""
    if text.startswith(key + ":"):
        at = 0
    else:
        at = text.find("\n" + key + ":")
        if at < 0:
            return None
        at += 1
    end = text.find("\n", at)
    return (text[at:] if end < 0 else text[at:end]), at


def _status_error(text: str, found: tuple[str, int], source: str, reason: str) -> ParseError:
    line, at = found
    return ParseError(source, text.count("\n", 0, at) + 1, line, reason)


# "\n<key>:" for each number a scan needs, in the order PidStatus takes them.
_STATUS_NEEDLES = tuple("\n" + key + ":" for key in _STATUS_NUMBERS)


def _status_fast(text: str) -> PidStatus | None:
    """parse_pid_status for a file shaped as fs/proc/array.c writes it (Name: first, then
    Uid and Gid lines with four ids, numbers with or without " kB"): the same values in less
    time than the general parser (docs/code-choices.md), which counts at a scan's hundreds
    of processes. None for any other shape, which the general parser then reads or rejects."""
    if not (text.startswith("Name:") and text.endswith("\n")):
        return None
    uids = _status_fields(text, "\nUid:")
    gids = _status_fields(text, "\nGid:")
    if uids is None or gids is None or len(uids) < 2 or len(gids) < 2:
        return None
    numbers: list[int | None] = []
    for needle in _STATUS_NEEDLES:
        parts = _status_fields(text, needle)
        if parts is None:
            numbers.append(None)
            continue
        if len(parts) == 2 and parts[1] == "kB":
            numbers.append(int(parts[0]) * BYTES_PER_KB)
        elif len(parts) == 1:
            numbers.append(int(parts[0]))
        else:
            return None
    return PidStatus(int(uids[0]), int(uids[1]), int(gids[0]), int(gids[1]), *numbers)


def _status_fields(text: str, needle: str) -> list[str] | None:
    """The words after `needle` ("\\n<key>:") to the end of its line, in a text that ends
    with a newline; None when the needle is absent."""
    at = text.find(needle)
    if at < 0:
        return None
    at += len(needle)
    return text[at : text.find("\n", at)].split()


def parse_pid_status(text: str, source: str = "/proc/<pid>/status") -> PidStatus:
    try:
        fast = _status_fast(text)
    except ValueError:
        fast = None  # the general parser below names the line
    if fast is not None:
        return fast
    return _parse_status_lines(text, source)


def _parse_status_lines(text: str, source: str) -> PidStatus:
    numbers: dict[str, int] = {}
    for key in _STATUS_NUMBERS:
        found = _status_line(text, key)
        if found is None:
            continue
        parts = found[0][len(key) + 1 :].split()
        try:
            number = int(parts[0])
        except (IndexError, ValueError) as exc:
            raise _status_error(text, found, source, f"{key} has no integer value") from exc
        if len(parts) == 2 and parts[1] == "kB":
            number *= BYTES_PER_KB
        elif len(parts) != 1:
            raise _status_error(text, found, source, f"unexpected unit after {key}")
        numbers[key] = number
    uids = _status_ids(text, "Uid", source)
    gids = _status_ids(text, "Gid", source)
    return PidStatus(
        uid_real=uids[0],
        uid_effective=uids[1],
        gid_real=gids[0],
        gid_effective=gids[1],
        threads=numbers.get("Threads"),
        resident_bytes=numbers.get("VmRSS"),
        swap_bytes=numbers.get("VmSwap"),
        voluntary_ctxt_switches_total=numbers.get("voluntary_ctxt_switches"),
        nonvoluntary_ctxt_switches_total=numbers.get("nonvoluntary_ctxt_switches"),
    )


def _status_ids(text: str, key: str, source: str) -> tuple[int, int]:
    # "Uid:\treal\teffective\tsaved\tfs"
    found = _status_line(text, key)
    if found is None:
        raise ParseError(source, 0, text[:80], "no Uid or Gid line")
    parts = found[0][len(key) + 1 :].split()
    if len(parts) < 2:
        raise _status_error(text, found, source, "expected real and effective ids")
    try:
        return int(parts[0]), int(parts[1])
    except ValueError as exc:
        raise _status_error(text, found, source, "id is not an integer") from exc


@dataclass(frozen=True, slots=True)
class PidIO:
    """/proc/<pid>/io. `rchar`/`wchar` count every read()/write() byte, page cache included;
    `read_bytes`/`write_bytes` are what reached the block layer, and are what process-exporter
    reports as read/write bytes."""

    rchar_bytes_total: int
    wchar_bytes_total: int
    read_syscalls_total: int
    write_syscalls_total: int
    read_bytes_total: int
    write_bytes_total: int
    cancelled_write_bytes_total: int


_IO_KEYS = {
    "rchar": "rchar_bytes_total",
    "wchar": "wchar_bytes_total",
    "syscr": "read_syscalls_total",
    "syscw": "write_syscalls_total",
    "read_bytes": "read_bytes_total",
    "write_bytes": "write_bytes_total",
    "cancelled_write_bytes": "cancelled_write_bytes_total",
}


# The seven lines in the order do_io_accounting() prints them.
_IO_LAYOUT = ["rchar:", "wchar:", "syscr:", "syscw:", "read_bytes:", "write_bytes:"]
_IO_LAYOUT.append("cancelled_write_bytes:")


def parse_pid_io(text: str, source: str = "/proc/<pid>/io") -> PidIO:
    # fs/proc/base.c do_io_accounting() always prints all seven lines, in one order: a file
    # in that shape is read with one split, faster than line by line (docs/code-choices.md);
    # a file in any other shape goes line by line.
    tokens = text.split()
    if (
        len(tokens) == 2 * len(_IO_LAYOUT)
        and tokens[0::2] == _IO_LAYOUT
        and all(t.isdigit() for t in tokens[1::2])
    ):
        return PidIO(*[int(t) for t in tokens[1::2]])
    values: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ParseError(source, line_no, line, "expected 'key: value'")
        if key in _IO_KEYS:
            try:
                values[_IO_KEYS[key]] = int(value)
            except ValueError as exc:
                raise ParseError(source, line_no, line, "value is not an integer") from exc
    missing = set(_IO_KEYS.values()) - values.keys()
    if missing:
        raise ParseError(source, 0, text[:80], f"missing lines for {', '.join(sorted(missing))}")
    return PidIO(**values)


def parse_cmdline(data: bytes) -> tuple[str, ...]:
    """argv from /proc/<pid>/cmdline: NUL-separated, with a trailing NUL. Empty for kernel
    threads and zombies. A program that rewrote its argv area (setproctitle) may leave one
    space-separated string; it is kept as one argument, as process-exporter does."""
    if not data:
        return ()
    parts = data.decode("utf-8", errors="replace").split("\0")
    if parts[-1] == "":
        parts.pop()
    return tuple(parts)


def parse_comm(text: str) -> str:
    """/proc/<pid>/comm: the name (up to 15 bytes, TASK_COMM_LEN - 1) plus a newline. Only the
    newline is removed: the name itself may end in spaces."""
    return text[:-1] if text.endswith("\n") else text


@dataclass(frozen=True, slots=True)
class PidLimits:
    """/proc/<pid>/limits: soft and hard limit per resource name ("Max open files", ...).
    None means "unlimited"."""

    by_name: dict[str, tuple[int | None, int | None]]

    @property
    def open_files_soft(self) -> int | None:
        return self.by_name.get("Max open files", (None, None))[0]


def _limit_value(value: str) -> int | None:
    return None if value == "unlimited" else int(value)


# fs/proc/base.c proc_pid_limits() prints "%-25s %-20s %-20s %-10s": names padded to 25
# columns. Slicing there is the fast path (cheaper than a token scan, docs/code-choices.md;
# limits is read for every process of every scan); a line that does not fit the columns, as a
# future name longer than 25 characters would, falls back to tokens: a name is words without
# digits, a value is a number or "unlimited".
_NAME_COLUMNS = 25


def _is_limit(value: str) -> bool:
    return value == "unlimited" or value.isdigit()


def _limit_fields(line: str) -> tuple[str, str, str] | None:
    name, values = line[:_NAME_COLUMNS].rstrip(), line[_NAME_COLUMNS:].split()
    if name and len(values) >= 2 and _is_limit(values[0]) and _is_limit(values[1]):
        return name, values[0], values[1]
    tokens = line.split()
    for i in range(1, len(tokens) - 1):
        if _is_limit(tokens[i]):
            return (
                (" ".join(tokens[:i]), tokens[i], tokens[i + 1])
                if _is_limit(tokens[i + 1])
                else None
            )
    return None


def parse_pid_limits(text: str, source: str = "/proc/<pid>/limits") -> PidLimits:
    by_name: dict[str, tuple[int | None, int | None]] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if (line_no == 1 and line.startswith("Limit ")) or not line.strip():
            continue
        fields = _limit_fields(line)
        if fields is None:
            raise ParseError(source, line_no, line, "expected 'Name soft hard [units]'")
        name, soft, hard = fields
        by_name[name] = (_limit_value(soft), _limit_value(hard))
    if not by_name:
        raise ParseError(source, 0, text[:80], "no limits")
    return PidLimits(by_name=by_name)
