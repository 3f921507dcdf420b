"""Parser for /proc/stat (kernel cpu, interrupt, context-switch and process counters)."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

# /proc/stat counts in USER_HZ, which the kernel fixes at 100 for user space on every
# architecture (include/asm-generic/param.h); node_exporter and procfs hard-code it too.
# Divide rather than multiply by 0.01: that is procfs' arithmetic, and 44490 * 0.01 is
# 444.90000000000003 where node_exporter reports 444.9.
USER_HZ = 100

CPU_MODES = (
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
)


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Seconds spent per mode since boot. `user`/`nice` include guest/guest_nice, as the kernel
    reports them. A mode the kernel is too old to report is None (steal: 2.6.11, guest: 2.6.24,
    guest_nice: 2.6.33)."""

    user: float
    nice: float
    system: float
    idle: float
    iowait: float | None
    irq: float | None
    softirq: float | None
    steal: float | None
    guest: float | None
    guest_nice: float | None


@dataclass(frozen=True, slots=True)
class Stat:
    total: CpuTimes
    per_cpu: dict[int, CpuTimes]
    interrupts_total: int
    context_switches_total: int
    boot_time_seconds: int
    forks_total: int
    procs_running: int
    procs_blocked: int
    softirqs_total: int | None
    softirqs_by_vector: dict[str, int]


# Order of the per-vector numbers on the softirq line (kernel/softirq.c softirq_to_name).
SOFTIRQ_VECTORS = (
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
)

_SOURCE = "/proc/stat"


def _cpu_times(fields: list[str], line_no: int, line: str) -> CpuTimes:
    if len(fields) < 4:
        raise ParseError(_SOURCE, line_no, line, "cpu line has fewer than 4 counters")
    try:
        seconds = [int(f) / USER_HZ for f in fields[: len(CPU_MODES)]]
    except ValueError as exc:
        raise ParseError(_SOURCE, line_no, line, "cpu counter is not an integer") from exc
    seconds += [None] * (len(CPU_MODES) - len(seconds))  # type: ignore[list-item]
    return CpuTimes(*seconds)


def parse_stat(text: str) -> Stat:
    total: CpuTimes | None = None
    per_cpu: dict[int, CpuTimes] = {}
    ints: dict[str, int] = {}
    softirqs_total: int | None = None
    softirqs: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        # `intr` has a count per IRQ number after its total (thousands on large hosts) and
        # only the total is kept: split that off alone.
        parts = line.split(None, 2)[:2] if line.startswith("intr ") else line.split()
        if not parts:
            continue
        key, fields = parts[0], parts[1:]
        if key == "cpu":
            total = _cpu_times(fields, line_no, line)
        elif key.startswith("cpu"):
            try:
                cpu = int(key[3:])
            except ValueError as exc:
                raise ParseError(_SOURCE, line_no, line, "cpu line with a non-numeric id") from exc
            per_cpu[cpu] = _cpu_times(fields, line_no, line)
        elif key in ("intr", "ctxt", "btime", "processes", "procs_running", "procs_blocked"):
            # `intr` is followed by one count per IRQ; only its total is kept.
            try:
                ints[key] = int(fields[0])
            except (IndexError, ValueError) as exc:
                raise ParseError(_SOURCE, line_no, line, f"{key} has no integer value") from exc
        elif key == "softirq":
            try:
                numbers = [int(f) for f in fields]
            except ValueError as exc:
                raise ParseError(_SOURCE, line_no, line, "softirq count is not an integer") from exc
            if numbers:
                softirqs_total = numbers[0]
                softirqs = dict(zip(SOFTIRQ_VECTORS, numbers[1:], strict=False))
    if total is None:
        raise ParseError(_SOURCE, 0, text[:80], "no aggregate cpu line")
    missing = {"intr", "ctxt", "btime", "processes", "procs_running", "procs_blocked"} - ints.keys()
    if missing:
        raise ParseError(_SOURCE, 0, text[:80], f"missing lines: {', '.join(sorted(missing))}")
    return Stat(
        total=total,
        per_cpu=per_cpu,
        interrupts_total=ints["intr"],
        context_switches_total=ints["ctxt"],
        boot_time_seconds=ints["btime"],
        forks_total=ints["processes"],
        procs_running=ints["procs_running"],
        procs_blocked=ints["procs_blocked"],
        softirqs_total=softirqs_total,
        softirqs_by_vector=softirqs,
    )
