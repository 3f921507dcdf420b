"""/proc/<pid>/* parsers and ProcFS per-process reading, against process-exporter's fixture."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetscope.agent.linux.errors import ParseError
from fleetscope.agent.linux.parsers.proc_pid import (
    PidStatus,
    _parse_status_lines,
    _status_fast,
    parse_cmdline,
    parse_comm,
    parse_pid_io,
    parse_pid_limits,
    parse_pid_stat,
    parse_pid_status,
)
from fleetscope.agent.linux.proc import ProcFS
from tests.proc_tree import (
    PAGE_SIZE,
    PROCESS_EXPORTER_ROOT,
    FakeProc,
    FlakyProcFS,
    copy_with_symlinks,
    stat_line,
    write_proc_tree,
)


@pytest.fixture
def fixture_root(fixtures_dir: Path) -> Path:
    return fixtures_dir / PROCESS_EXPORTER_ROOT


def test_fixture_14804_matches_upstream_read_test(fixture_root: Path) -> None:
    # Every value of TestReadFixture (proc/read_test.go), as tabled in the fixture README.
    samples = ProcFS(fixture_root).processes(page_size=PAGE_SIZE)
    assert list(samples) == [14804]
    p = samples[14804]
    assert p.pid == 14804
    assert p.start_token == 0x4F27B
    assert p.name == "process-exporte"
    assert p.cmdline == ("./process-exporter", "-procnames", "bash")
    assert p.ppid == 10884
    assert p.start_time_seconds == pytest.approx(1508450329 + 324219 / 100)
    assert datetime.fromtimestamp(p.start_time_seconds, UTC).isoformat(timespec="milliseconds") == (
        "2017-10-19T22:52:51.190+00:00"
    )
    assert p.uid == 1000
    assert p.cpu_user_seconds_total == 0.10
    assert p.cpu_system_seconds_total == 0.04
    assert p.read_bytes_total == 1814455
    assert p.write_bytes_total == 0
    assert p.major_faults_total == 0x2FF
    assert p.minor_faults_total == 0x643
    assert p.voluntary_ctx_switches_total == 72
    assert p.nonvoluntary_ctx_switches_total == 6
    assert p.resident_bytes == 0x7B1000
    assert p.virtual_bytes == 0x1061000
    assert p.swap_bytes == 0x2800
    assert p.open_fds == 5
    assert p.max_fds == 0x400
    assert p.num_threads == 7
    assert p.state == "S"
    # The shared copy stores the exe symlink as a plain file: not a link, so unknown.
    assert p.exe is None


def test_fixture_with_real_symlinks_reads_exe(fixture_root: Path, tmp_path: Path) -> None:
    root = copy_with_symlinks(fixture_root, tmp_path / "proc")
    p = ProcFS(root).processes(page_size=PAGE_SIZE, username_of=lambda uid: f"user{uid}")[14804]
    assert p.exe == "/usr/bin/process-exporter"
    assert p.open_fds == 5
    assert p.username == "user1000"


def test_stat_resident_agrees_with_status_vmrss(fixture_root: Path) -> None:
    text = (fixture_root / "14804").joinpath
    stat = parse_pid_stat(text("stat").read_text(), PAGE_SIZE)
    status = parse_pid_status(text("status").read_text())
    assert stat.resident_bytes == status.resident_bytes == 7876 * 1024
    assert status.threads == stat.num_threads == 7
    assert (status.uid_real, status.uid_effective, status.gid_real, status.gid_effective) == (
        1000,
        1000,
        1000,
        1000,
    )


@pytest.mark.parametrize(
    "comm",
    ["a b", "(sd-pam)", "x) S 1 2 (y", ")", "", "tmux: server"],
)
def test_stat_comm_with_spaces_and_parentheses(comm: str) -> None:
    line = stat_line(FakeProc(pid=42, comm=comm, ppid=7, utime_ticks=250, rss_pages=3))
    stat = parse_pid_stat(line, PAGE_SIZE)
    assert stat.comm == comm
    assert stat.pid == 42
    assert stat.state == "S"
    assert stat.ppid == 7
    assert stat.cpu_user_seconds_total == 2.5
    assert stat.resident_bytes == 3 * PAGE_SIZE


def test_stat_rss_uses_the_given_page_size() -> None:
    line = stat_line(FakeProc(pid=1, comm="init", rss_pages=10))
    assert parse_pid_stat(line, 65536).resident_bytes == 655360


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no '\\(comm\\)'"),
        ("12 (bash S 1 2 3", "no '\\(comm\\)'"),
        ("12 (bash) S 1 2 3", "fields"),
        ("x (bash) " + " ".join(["1"] * 40), "not an integer"),
    ],
)
def test_stat_malformed_raises_parse_error_naming_the_file(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as info:
        parse_pid_stat(text, PAGE_SIZE, source="/proc/12/stat")
    assert info.value.source == "/proc/12/stat"
    assert "/proc/12/stat:1" in str(info.value)


def test_status_of_kernel_thread_has_no_memory() -> None:
    # A kthread's status has no Vm* lines (fs/proc/task_mmu.c is skipped without an mm).
    text = (
        "Name:\tkworker/0:1\nState:\tI (idle)\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
        "Threads:\t1\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t0\n"
    )
    status = parse_pid_status(text)
    assert status.resident_bytes is None
    assert status.swap_bytes is None
    assert status.voluntary_ctxt_switches_total == 5


def test_status_errors_name_line_and_text() -> None:
    with pytest.raises(ParseError, match="no Uid"):
        parse_pid_status("Name:\tx\n")
    with pytest.raises(ParseError, match=r"/proc/9/status:2: VmRSS has no integer") as info:
        parse_pid_status("Uid:\t0\t0\t0\t0\nVmRSS:\tlots kB\n", source="/proc/9/status")
    assert info.value.text == "VmRSS:\tlots kB"
    with pytest.raises(ParseError, match="unexpected unit"):
        parse_pid_status("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmRSS:\t5 MB\n")


def test_io_fixture_keeps_block_and_char_counts_apart(fixture_root: Path) -> None:
    io = parse_pid_io((fixture_root / "14804" / "io").read_text())
    assert (io.rchar_bytes_total, io.wchar_bytes_total) == (1605958, 69)
    assert (io.read_bytes_total, io.write_bytes_total) == (1814455, 0)
    assert (io.read_syscalls_total, io.write_syscalls_total) == (5534, 1)
    assert io.cancelled_write_bytes_total == 0


def test_io_in_another_order_or_with_extra_lines_reads_the_same(fixture_root: Path) -> None:
    text = (fixture_root / "14804" / "io").read_text()
    lines = text.splitlines()
    assert parse_pid_io("\n".join(reversed(lines)) + "\nfuture_field: 3\n") == parse_pid_io(text)


def test_io_malformed() -> None:
    with pytest.raises(ParseError, match="missing lines"):
        parse_pid_io("rchar: 1\n")
    with pytest.raises(ParseError, match=r":2: value is not an integer"):
        parse_pid_io("rchar: 1\nwchar: x\n")
    # Every key in the kernel's order but the last value cut off (a read racing the exit):
    # the one-split fast path must not take it; found by hypothesis as a TypeError.
    keys = [
        "rchar",
        "wchar",
        "syscr",
        "syscw",
        "read_bytes",
        "write_bytes",
        "cancelled_write_bytes",
    ]
    truncated = "".join(f"{k}: 1\n" for k in keys[:-1]) + f"{keys[-1]}:\n"
    with pytest.raises(ParseError, match=r":7: value is not an integer"):
        parse_pid_io(truncated)


def test_cmdline_and_comm() -> None:
    assert parse_cmdline(b"") == ()
    assert parse_cmdline(b"/bin/sh\0-c\0echo a  b\0") == ("/bin/sh", "-c", "echo a  b")
    assert parse_cmdline(b"a\0\0b\0") == ("a", "", "b")
    # setproctitle-style: argv rewritten as one space-separated string, no trailing NUL.
    assert parse_cmdline(b"postgres: checkpointer") == ("postgres: checkpointer",)
    assert parse_cmdline(b"caf\xc3\xa9\0\xff\0") == ("café", "\ufffd")
    assert parse_comm("process-exporte\n") == "process-exporte"
    assert parse_comm("ends in space \n") == "ends in space "


def test_limits_fixture_and_unlimited(fixture_root: Path) -> None:
    limits = parse_pid_limits((fixture_root / "14804" / "limits").read_text())
    assert limits.open_files_soft == 1024
    assert limits.by_name["Max open files"] == (1024, 65536)
    assert limits.by_name["Max cpu time"] == (None, None)
    assert limits.by_name["Max nice priority"] == (0, 0)
    assert len(limits.by_name) == 16
    unlimited = parse_pid_limits(
        "Max open files            unlimited            unlimited   files\n"
    )
    assert unlimited.open_files_soft is None


def test_limits_name_wider_than_the_kernel_columns() -> None:
    line = "Max hypothetical resource name 12 34 things"
    assert parse_pid_limits(line).by_name == {"Max hypothetical resource name": (12, 34)}


def test_limits_malformed() -> None:
    with pytest.raises(ParseError, match=":2: expected 'Name soft hard"):
        parse_pid_limits("Limit  Soft Limit  Hard Limit  Units\nMax open files lots\n")
    with pytest.raises(ParseError, match=":1: expected"):
        parse_pid_limits("Max open files            1024                 lots\n")
    with pytest.raises(ParseError, match="no limits"):
        parse_pid_limits("")


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(2, "No such file or directory"),
        ProcessLookupError(3, "No such process"),
    ],
)
@pytest.mark.parametrize("file", ["stat", "status", "cmdline", "limits", "io", "fd"])
def test_process_vanishing_mid_read_is_skipped_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, error: OSError, file: str
) -> None:
    root = write_proc_tree(tmp_path, [FakeProc(1, "init"), FakeProc(50, "gone"), FakeProc(60, "x")])
    with caplog.at_level(logging.DEBUG, logger="fleetscope.agent.linux.pidscan"):
        samples = FlakyProcFS(root, {(50, file): error}).processes(page_size=PAGE_SIZE)
    assert sorted(samples) == [1, 60]
    assert any("pid 50 exited while being read" in r.getMessage() for r in caplog.records)
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_pid_directory_gone_between_listing_and_reading(tmp_path: Path) -> None:
    root = write_proc_tree(tmp_path, [FakeProc(1, "init")])
    (root / "77").mkdir()  # listed, but its files are already gone, as after an exit
    assert sorted(ProcFS(root).processes(page_size=PAGE_SIZE)) == [1]


def test_permission_denied_on_io_and_fd_gives_none(tmp_path: Path) -> None:
    root = write_proc_tree(tmp_path, [FakeProc(5, "other", read_bytes=9, fds=4)])
    denied = PermissionError(13, "Permission denied")
    p = FlakyProcFS(root, {(5, "io"): denied, (5, "fd"): denied}).processes(page_size=PAGE_SIZE)[5]
    assert p.read_bytes_total is None
    assert p.write_bytes_total is None
    assert p.open_fds is None
    assert p.max_fds == 1024
    assert p.cpu_user_seconds_total == 0.0


def test_malformed_file_raises_parse_error(tmp_path: Path) -> None:
    root = write_proc_tree(tmp_path, [FakeProc(5, "bad")])
    (root / "5" / "io").write_text("rchar: many\n")
    with pytest.raises(ParseError, match=r"/5/io:1: value is not an integer"):
        ProcFS(root).processes(page_size=PAGE_SIZE)


def test_kernel_thread_without_exe(tmp_path: Path) -> None:
    root = write_proc_tree(tmp_path, [FakeProc(2, "kthreadd", ppid=0)])
    p = ProcFS(root).processes(page_size=PAGE_SIZE)[2]
    assert p.cmdline == ()
    assert p.exe is None


def test_pids_lists_only_numeric_entries(fixture_root: Path) -> None:
    assert ProcFS(fixture_root).pids() == [14804]
    assert os.path.isdir(fixture_root / "symlinktargets")


def _live_statuses() -> list[str]:
    texts = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                texts.append(Path(f"/proc/{name}/status").read_text())
            except (FileNotFoundError, ProcessLookupError):
                continue
    return texts


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux /proc")
def test_status_fast_path_agrees_with_the_line_parser_on_every_live_process() -> None:
    texts = _live_statuses()
    assert len(texts) > 5
    for text in texts:
        fast = _status_fast(text)
        assert fast is not None, text[:200]
        assert fast == _parse_status_lines(text, "/proc/<pid>/status")


@pytest.mark.parametrize(
    "text",
    [
        "Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nVmSwap:\t1 kB\n",  # not Name: first
        "Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nVmSwap:\t1 kB",  # no final newline
        "Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nVmSwap:\t1 MB\n",  # another unit
        "Name:\tx\nUid:\t1\nGid:\t5\t6\t7\t8\n",  # one id
        "Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nThreads:\tmany\n",
    ],
)
def test_status_fast_path_leaves_other_shapes_to_the_line_parser(text: str) -> None:
    try:
        expected: PidStatus | str = _parse_status_lines(text, "s")
    except ParseError as exc:
        expected = str(exc)
    try:
        got: PidStatus | str = parse_pid_status(text, "s")
    except ParseError as exc:
        got = str(exc)
    assert got == expected
