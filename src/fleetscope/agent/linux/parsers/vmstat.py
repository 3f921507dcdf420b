"""Parser for /proc/vmstat (virtual memory event counters and page counts)."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError
from fleetscope.agent.linux.parsers.namevalue import parse_name_values

# pgpgin/pgpgout count KiB, not pages: mm/vmstat.c halves the sector count ("sectors ->
# kbytes") before printing them.
BYTES_PER_KIB = 1024

_SOURCE = "/proc/vmstat"


@dataclass(frozen=True, slots=True)
class VmStat:
    """The typed counters are None where the kernel lacks the line (oom_kill appeared in 4.13;
    the swap counters need CONFIG_SWAP)."""

    swapped_in_pages_total: int | None
    swapped_out_pages_total: int | None
    paged_in_bytes_total: int | None
    paged_out_bytes_total: int | None
    page_faults_total: int | None
    major_page_faults_total: int | None
    oom_kills_total: int | None
    # Every line, unconverted, as the kernel names it (node_exporter's node_vmstat_<name>).
    by_name: dict[str, int]


def parse_vmstat(text: str) -> VmStat:
    values = parse_name_values(text, _SOURCE)
    pgpgin = values.get("pgpgin")
    pgpgout = values.get("pgpgout")
    return VmStat(
        swapped_in_pages_total=values.get("pswpin"),
        swapped_out_pages_total=values.get("pswpout"),
        paged_in_bytes_total=None if pgpgin is None else pgpgin * BYTES_PER_KIB,
        paged_out_bytes_total=None if pgpgout is None else pgpgout * BYTES_PER_KIB,
        page_faults_total=values.get("pgfault"),
        major_page_faults_total=values.get("pgmajfault"),
        oom_kills_total=values.get("oom_kill"),
        by_name=values,
    )


@dataclass(frozen=True, slots=True)
class VmStatSwap:
    """The two /proc/vmstat counters the memory collector sends each cycle; None without
    CONFIG_SWAP."""

    swapped_in_pages_total: int | None
    swapped_out_pages_total: int | None


def _counter(text: str, name: str) -> int | None:
    pattern = name + " "
    if text.startswith(pattern):
        at = 0
    else:
        at = text.find("\n" + pattern)
        if at < 0:
            return None
        at += 1
    end = text.find("\n", at)
    line = text[at:] if end < 0 else text[at:end]
    try:
        return int(line[len(pattern) :])
    except ValueError as exc:
        line_no = text.count("\n", 0, at) + 1
        raise ParseError(_SOURCE, line_no, line, "value is not an integer") from exc


def parse_vmstat_swap(text: str) -> VmStatSwap:
    """pswpin and pswpout only, found directly: parse_vmstat splits all ~300 lines, which was
    most of the memory collector's time, for two numbers. Agrees with parse_vmstat (tested on
    the node_exporter fixture and this host)."""
    return VmStatSwap(
        swapped_in_pages_total=_counter(text, "pswpin"),
        swapped_out_pages_total=_counter(text, "pswpout"),
    )


def parse_vmstat_headline(text: str) -> VmStat:
    """The counters node_exporter's vmstat collector keeps by default (its fields regex
    `^(oom_kill|pgpg|pswp|pg.*fault).*`: oom_kill, pgpgin, pgpgout, pswpin, pswpout, pgfault,
    pgmajfault), found directly like parse_vmstat_swap; `by_name` holds those found.
    Agrees with parse_vmstat (tests/agent/test_node_exporter_parity.py)."""
    names = ("pswpin", "pswpout", "pgpgin", "pgpgout", "pgfault", "pgmajfault", "oom_kill")
    values = {name: value for name in names if (value := _counter(text, name)) is not None}
    pgpgin = values.get("pgpgin")
    pgpgout = values.get("pgpgout")
    return VmStat(
        swapped_in_pages_total=values.get("pswpin"),
        swapped_out_pages_total=values.get("pswpout"),
        paged_in_bytes_total=None if pgpgin is None else pgpgin * BYTES_PER_KIB,
        paged_out_bytes_total=None if pgpgout is None else pgpgout * BYTES_PER_KIB,
        page_faults_total=values.get("pgfault"),
        major_page_faults_total=values.get("pgmajfault"),
        oom_kills_total=values.get("oom_kill"),
        by_name=values,
    )
