"""What ProcFS reads once per process (cmdline, exe, fd limit: ProcessStatic) and when it
reads them again; the fd count from /proc/<pid>/fd's size on a live procfs."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetscope.agent.linux.parsers.proc_pid import parse_pid_status
from fleetscope.agent.linux.pidscan import ProcessStatic
from fleetscope.agent.linux.proc import ProcFS
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
        assert procfs._scanner._fd_size_counts  # /proc is procfs: the size was used
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


def _open_files_of(pid: int) -> list[str]:
    """This process's descriptors that point into /proc/<pid>/, but for the statm the agent's
    self-metrics keep open (selfmetrics._Statm), which is not the scan's."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the listing's own descriptor, closed by now
            continue
        if target.startswith(f"/proc/{pid}/") and target != f"/proc/{os.getpid()}/statm":
            found.append(target)
    return found


@pytest.mark.skipif(not LINUX, reason="needs a Linux /proc")
def test_live_scan_keeps_stat_status_io_open_and_reads_them_afresh() -> None:
    procfs = ProcFS("/proc")
    me = os.getpid()
    try:
        first = procfs.processes(page_size=PAGE_SIZE)[me]
        assert sorted(os.path.basename(p) for p in _open_files_of(me)) == [
            "fd",
            "io",
            "stat",
            "status",
        ]
        deadline = time.process_time() + 0.2
        while time.process_time() < deadline:  # CPU for the counters to move
            pass
        second = procfs.processes(page_size=PAGE_SIZE)[me]
        assert second.cpu_seconds_total >= first.cpu_seconds_total + 0.1
        # Read through the kept descriptors, which show the values of now, as a fresh open
        # does: the same record as a ProcFS that opens everything.
        fresh = ProcFS("/proc").process(me, boot_time_seconds=0.0, page_size=PAGE_SIZE)
        assert fresh is not None
        same = ("ppid", "name", "uid", "start_token", "max_fds")
        assert [getattr(second, f) for f in same] == [getattr(fresh, f) for f in same]
    finally:
        procfs.close()
    assert _open_files_of(me) == []


@pytest.mark.skipif(not LINUX, reason="needs a Linux /proc")
def test_kept_files_of_an_exited_process_are_closed() -> None:
    procfs = ProcFS("/proc")
    child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
    try:
        assert child.pid in procfs.processes(page_size=PAGE_SIZE)
        assert len(_open_files_of(child.pid)) == 4  # stat, status, io and fd/
        child.kill()
        child.wait()
        # The kept descriptors still name the exited process: a read fails with ESRCH, the
        # file is opened again by path, which is gone: the process is reported gone.
        assert procfs.process(child.pid, boot_time_seconds=0.0, page_size=PAGE_SIZE) is None
        assert child.pid not in procfs.processes(page_size=PAGE_SIZE)
        assert _open_files_of(child.pid) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        procfs.close()


@pytest.mark.skipif(not LINUX, reason="needs a Linux /proc")
def test_kept_files_stay_within_the_budget() -> None:
    procfs = ProcFS("/proc", max_kept_files=4)
    try:
        samples = procfs.processes(page_size=PAGE_SIZE)
        assert len(samples) > 2
        kept = [p for pid in samples for p in _open_files_of(pid)]
        assert len(kept) == 4
        # Beyond the budget files are opened and closed each scan, and read all the same.
        me = procfs.processes(page_size=PAGE_SIZE)[os.getpid()]
        assert me.read_bytes_total is not None and me.uid == os.geteuid()
        assert len([p for pid in samples for p in _open_files_of(pid)]) == 4
    finally:
        procfs.close()


def test_fixture_tree_files_are_not_kept_open(tmp_path: Path) -> None:
    # A fixture's files may be replaced between scans; a kept descriptor would read the
    # old file. Only a live procfs keeps them.
    root = _tree(tmp_path / "proc", [FakeProc(42, "app", ("app",), utime_ticks=100)])
    procfs = ProcFS(root, max_kept_files=100)
    assert procfs.processes(page_size=PAGE_SIZE)[42].cpu_user_seconds_total == 1.0
    _tree(root, [FakeProc(42, "app", ("app",), utime_ticks=300)])
    assert procfs.processes(page_size=PAGE_SIZE)[42].cpu_user_seconds_total == 3.0


def test_kept_open_on_a_fixture_tree_is_the_same_procfs(tmp_path: Path) -> None:
    procfs = ProcFS(_tree(tmp_path / "proc", [FakeProc(1, "init")]))
    assert procfs.kept_open() is procfs


@pytest.mark.skipif(not LINUX, reason="needs a Linux /proc")
def test_kept_open_reads_the_kept_file_afresh_and_closes_it() -> None:
    me = os.getpid()
    kept = ProcFS("/proc").kept_open()
    stat_path = f"/proc/{me}/stat"
    before = kept.read_text(f"{me}/stat")
    assert stat_path in _open_files_of(me)
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    after = kept.read_text(f"{me}/stat")
    utime = 13  # proc(5) field 14, after "pid (comm)"
    assert int(after.split(") ")[1].split()[utime - 2]) > int(
        before.split(") ")[1].split()[utime - 2]
    )
    kept.close()
    assert stat_path not in _open_files_of(me)


@pytest.mark.skipif(not LINUX, reason="needs a Linux /proc")
def test_a_kept_file_that_fails_is_opened_again_and_fails_as_a_fresh_open() -> None:
    kept = ProcFS("/proc").kept_open()
    child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while kept.read_text(f"{child.pid}/comm") != "sleep\n":  # the fork before the exec
            assert time.monotonic() < deadline
            time.sleep(0.01)
        child.kill()
        child.wait()
        with pytest.raises(FileNotFoundError):
            kept.read_text(f"{child.pid}/comm")
        assert _open_files_of(child.pid) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        kept.close()


def test_an_unchanged_process_gives_the_same_record_and_any_change_a_new_one(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proc"
    procs = [FakeProc(42, "app", ("app",), utime_ticks=100, voluntary=5, read_bytes=7)]
    _tree(root, procs)
    procfs = ProcFS(root)
    known: dict[int, ProcessStatic] = {}
    first = procfs.processes(page_size=PAGE_SIZE, known=known)[42]
    # Nothing changed: the parsed files and the record are reused, not rebuilt.
    assert procfs.processes(page_size=PAGE_SIZE, known=known)[42] is first
    # Each file, and btime, changes the record, as a fresh reading would.
    changes = [
        ({"voluntary": 6}, {}, "voluntary_ctx_switches_total", 6),
        ({"utime_ticks": 150}, {}, "cpu_user_seconds_total", 1.5),
        ({"read_bytes": 9}, {}, "read_bytes_total", 9),
        ({}, {"btime": 1_700_000_100}, "start_time_seconds", None),
    ]
    previous = first
    for proc_change, tree_change, field, value in changes:
        procs = [dataclasses.replace(procs[0], **proc_change)]
        shutil.rmtree(root)
        write_proc_tree(root, procs, **tree_change)
        now = procfs.processes(page_size=PAGE_SIZE, known=known)[42]
        fresh = ProcFS(root).processes(page_size=PAGE_SIZE)[42]
        assert now == fresh
        assert getattr(now, field) != getattr(previous, field)
        if value is not None:
            assert getattr(now, field) == value
        previous = now
    # A page size that differs rescales rss from the same stat bytes.
    assert (
        procfs.processes(page_size=2 * PAGE_SIZE, known=known)[42]
        == ProcFS(root).processes(page_size=2 * PAGE_SIZE)[42]
    )


@pytest.mark.skipif(not LINUX, reason="needs a Linux /proc")
def test_the_kept_fd_directory_handle_counts_the_files_open_now() -> None:
    script = (
        "import sys\nkept = []\nprint('ready', flush=True)\nfor line in sys.stdin:\n"
        "    kept.append(open('/dev/null'))\n    print('opened', flush=True)\n"
    )
    procfs = ProcFS("/proc")
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            # Counted only once the interpreter has started: while it starts it opens and
            # closes files of its own, and a count taken then races with the listing below.
            assert child.stdout.readline() == "ready\n"
            counts = []
            for _ in range(3):
                counts.append(procfs.processes(page_size=PAGE_SIZE)[child.pid].open_fds)
                assert counts[-1] == len(os.listdir(f"/proc/{child.pid}/fd"))
                child.stdin.write("open one more\n")
                child.stdin.flush()
                assert child.stdout.readline() == "opened\n"
            assert counts == [counts[0], counts[0] + 1, counts[0] + 2]
            assert f"/proc/{child.pid}/fd" in _open_files_of(child.pid)
        finally:
            child.kill()
            procfs.close()
