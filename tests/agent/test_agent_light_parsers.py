"""The shortcuts the light cycle takes agree with the full parsers: sockstat lines found
directly, diskstats lines skipped before conversion, on the fixtures and on this host."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from fleetscope.agent.collectors.disk import DEFAULT_DISK_DEVICE_EXCLUDE
from fleetscope.agent.linux.errors import ParseError
from fleetscope.agent.linux.parsers.diskstats import parse_diskstats
from fleetscope.agent.linux.parsers.sockstat import parse_sockstat, parse_sockstat_protocol

_RAW_KEYS = {
    "inuse": "in_use",
    "orphan": "orphan",
    "tw": "time_wait",
    "alloc": "alloc",
    "mem": "mem_pages",
    "memory": "frag_memory_bytes",
}


def _sockstat_texts(fixtures_dir: Path) -> list[str]:
    texts = [p.read_text() for p in sorted(fixtures_dir.rglob("sockstat*")) if p.is_file()]
    if sys.platform.startswith("linux"):
        texts += [Path("/proc/net/sockstat").read_text(), Path("/proc/net/sockstat6").read_text()]
    return texts


def test_sockstat_protocol_lines_agree_with_the_full_parser(fixtures_dir: Path) -> None:
    texts = _sockstat_texts(fixtures_dir)
    assert len(texts) >= 2
    for text in texts:
        full = parse_sockstat(text, 4096).protocols
        for protocol, record in full.items():
            direct = parse_sockstat_protocol(text, protocol)
            assert direct is not None
            for raw, name in _RAW_KEYS.items():
                assert direct.get(raw) == getattr(record, name), (protocol, raw)
        assert parse_sockstat_protocol(text, "NOSUCH") is None


def test_sockstat_protocol_line_errors_name_the_line() -> None:
    with pytest.raises(ParseError, match="sockstat:2"):
        parse_sockstat_protocol("sockets: used 1\nTCP: inuse x\n", "TCP")
    with pytest.raises(ParseError, match="not an integer"):
        parse_sockstat_protocol("TCP: inuse x\n", "TCP")
    # "TCP" must not match the TCP6 line of another file's layout.
    assert parse_sockstat_protocol("TCP6: inuse 3\n", "TCP") is None


def test_diskstats_skip_equals_filtering_the_full_parse(fixtures_dir: Path) -> None:
    exclude = re.compile(DEFAULT_DISK_DEVICE_EXCLUDE)
    texts = [p.read_text() for p in sorted(fixtures_dir.rglob("diskstats")) if p.is_file()]
    if sys.platform.startswith("linux"):
        texts.append(Path("/proc/diskstats").read_text())
    assert texts
    for text in texts:
        full = parse_diskstats(text)
        skipped = parse_diskstats(text, lambda name: bool(exclude.search(name)))
        assert skipped == {n: d for n, d in full.items() if not exclude.search(n)}
    with pytest.raises(ParseError):  # a skipped line's layout is still checked
        parse_diskstats("7 0 loop0 1 2\n", lambda _name: True)


def test_disk_collector_remembers_each_names_verdict(tmp_path: Path) -> None:
    from fleetscope.agent.collectors.disk import LinuxDiskCollector  # noqa: PLC0415
    from fleetscope.agent.linux.proc import ProcFS  # noqa: PLC0415

    proc = tmp_path / "proc"
    proc.mkdir()
    line = "{major} {minor} {name} 1 0 8 1 2 0 16 3 0 4 5 0 0 0 0\n"
    (proc / "diskstats").write_text(
        line.format(major=7, minor=0, name="loop0") + line.format(major=8, minor=0, name="sda")
    )
    collector = LinuxDiskCollector(ProcFS(proc), re.compile(DEFAULT_DISK_DEVICE_EXCLUDE))
    assert [d.device for d in collector.collect().devices] == ["sda"]
    (proc / "diskstats").write_text(
        line.format(major=8, minor=0, name="sda")
        + line.format(major=8, minor=1, name="sda1")
        + line.format(major=8, minor=16, name="sdb")
    )
    assert [d.device for d in collector.collect().devices] == ["sda", "sdb"]


def test_stat_takes_the_interrupt_total_without_splitting_every_irq() -> None:
    from fleetscope.agent.linux.parsers.stat import parse_stat  # noqa: PLC0415

    base = "cpu 1 2 3 4\nctxt 5\nbtime 6\nprocesses 7\nprocs_running 1\nprocs_blocked 0\n"
    assert parse_stat(base + "intr 448139 0 0 13 " + "0 " * 4000 + "\n").interrupts_total == 448139
    assert parse_stat(base + "intr 12\n").interrupts_total == 12
    for bad in ("intr\n", "intr x 1 2\n"):
        with pytest.raises(ParseError, match="intr has no integer value"):
            parse_stat(base + bad)
