"""What ProcFS reads once per process (cmdline, exe, fd limit: ProcessStatic) and when it
reads them again; the fd count from /proc/<pid>/fd's size on a live procfs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fleetscope.agent.linux.parsers.proc_pid import parse_pid_status
from fleetscope.agent.linux.procfs import ProcessStatic, ProcFS
from tests.conftest import require
from tests.proc_tree import PAGE_SIZE, FakeProc, write_proc_tree

LINUX = sys.platform.startswith("linux")


def _tree(root: Path, procs: list[FakeProc]) -> Path:
    if root.exists():
        shutil.rmtree(root)
    return write_proc_tree(root, procs)


def test_a_reused_pid_gets_the_new_process_cmdline(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    known: dict[int, ProcessStatic] = {}
    _tree(root, [FakeProc(40, "worker", ("/usr/bin/worker", "--old"), start_ticks=1000)])
    first = ProcFS(root).processes(page_size=PAGE_SIZE, known=known)
    assert first[40].cmdline == ("/usr/bin/worker", "--old")
    # Same pid and comm, later start: another process.
    _tree(
        root,
        [FakeProc(40, "worker", ("/usr/bin/worker", "--new"), start_ticks=5000, nofile_soft=9)],
    )
    second = ProcFS(root).processes(page_size=PAGE_SIZE, known=known)
    assert second[40].cmdline == ("/usr/bin/worker", "--new")
    assert second[40].max_fds == 9
    assert known[40].start_token == 5000


def test_an_exec_changes_comm_and_rereads_cmdline(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    known: dict[int, ProcessStatic] = {}
    _tree(root, [FakeProc(41, "sh", ("sh", "-c", "exec sleep 9"))])
    ProcFS(root).processes(page_size=PAGE_SIZE, known=known)
    _tree(root, [FakeProc(41, "sleep", ("sleep", "9"))])  # same pid and start time
    assert ProcFS(root).processes(page_size=PAGE_SIZE, known=known)[41].cmdline == ("sleep", "9")


def test_the_same_process_is_not_read_again_and_gone_ones_are_forgotten(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    known: dict[int, ProcessStatic] = {}
    _tree(root, [FakeProc(1, "init", ("/sbin/init",)), FakeProc(42, "app", ("app", "-v"))])
    procfs = ProcFS(root)
    procfs.processes(page_size=PAGE_SIZE, known=known)
    assert sorted(known) == [1, 42]
    # The files are not opened again for a known process: a changed argv is not seen, and
    # missing files do not matter.
    (root / "42" / "cmdline").write_bytes(b"app\0--rewritten\0")
    (root / "42" / "limits").unlink()
    assert procfs.processes(page_size=PAGE_SIZE, known=known)[42].cmdline == ("app", "-v")
    shutil.rmtree(root / "42")
    procfs.processes(page_size=PAGE_SIZE, known=known)
    assert sorted(known) == [1]


def test_without_a_cache_every_scan_reads_everything(tmp_path: Path) -> None:
    root = _tree(tmp_path / "proc", [FakeProc(42, "app", ("app", "-v"))])
    ProcFS(root).processes(page_size=PAGE_SIZE)
    (root / "42" / "cmdline").write_bytes(b"app\0--rewritten\0")
    assert ProcFS(root).processes(page_size=PAGE_SIZE)[42].cmdline == ("app", "--rewritten")


def test_fixture_tree_counts_fds_by_listing(tmp_path: Path) -> None:
    root = _tree(tmp_path / "proc", [FakeProc(43, "app", fds=7)])
    assert ProcFS(root).processes(page_size=PAGE_SIZE)[43].open_fds == 7


@pytest.mark.skipif(not LINUX, reason="needs a Linux /proc")
def test_live_fd_count_from_the_directory_size_matches_a_listing() -> None:
    child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
    try:
        procfs = ProcFS("/proc")
        listed = len(os.listdir(f"/proc/{child.pid}/fd"))
        sample = procfs.processes(page_size=PAGE_SIZE)[child.pid]
        assert sample.open_fds == listed
        assert procfs._fd_size_counts  # /proc is procfs: the size was used
        # Kernel threads (children of kthreadd, pid 2) have no files: 0 either way. Other
        # processes come and go, and open and close files, between the two reads.
        for pid, other in procfs.processes(page_size=PAGE_SIZE).items():
            if other.ppid != 2:
                continue
            try:
                listed_now = os.listdir(f"/proc/{pid}/fd")
            except FileNotFoundError:  # a kworker that has ended
                continue
            assert other.open_fds == 0 and listed_now == []
    finally:
        child.kill()
        child.wait()


def test_status_lines_not_needed_are_not_checked() -> None:
    # Like prometheus/procfs, a line the parser does not use is not looked at.
    status = parse_pid_status("Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nodd line\nVmSwap:\t1 kB\n")
    assert (status.uid_effective, status.gid_effective, status.swap_bytes) == (2, 6, 1024)


@pytest.mark.skipif(not LINUX, reason="needs a Linux /proc")
def test_read_text_reads_past_a_seq_file_page() -> None:
    # A seq_file answers a read with at most a page, however much was asked; slabinfo is
    # about 25 KiB of slab caches that are created and destroyed rarely.
    require(os.access("/proc/slabinfo", os.R_OK), "/proc/slabinfo is root-only")
    with open("/proc/slabinfo") as handle:
        expected = [line.split()[0] for line in handle]
    got = [line.split()[0] for line in ProcFS("/proc").read_text("slabinfo").splitlines()]
    assert len(expected) > 60 and got == expected
