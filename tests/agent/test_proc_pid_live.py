"""ProcFS against this machine's own /proc."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.processes.users import UsernameCache
from tests.conftest import require


@pytest.fixture(scope="module")
def live() -> ProcFS:
    require(Path("/proc/self/stat").is_file(), "no Linux /proc on this machine")
    return ProcFS("/proc")


def test_reads_every_process_and_finds_itself(live: ProcFS) -> None:
    samples = live.processes(username_of=UsernameCache())
    assert len(samples) >= 2
    me = samples[os.getpid()]
    assert me.cmdline == tuple(sys.orig_argv)
    assert me.ppid == os.getppid()
    assert me.uid == os.geteuid()
    assert me.username == psutil.Process().username()
    assert me.exe == os.path.realpath(sys.executable)
    assert me.max_fds == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert me.open_fds is not None and me.open_fds >= 3
    assert me.num_threads == psutil.Process().num_threads()
    assert me.state == "R"
    assert me.resident_bytes > 1_000_000
    assert me.virtual_bytes > me.resident_bytes
    assert me.read_bytes_total is not None
    # psutil computes create_time from the same btime and starttime.
    assert me.start_time_seconds == pytest.approx(psutil.Process().create_time(), abs=0.02)
    assert me.start_time_seconds <= time.time()


def test_sanity_across_all_processes(live: ProcFS) -> None:
    samples = live.processes()
    now = time.time()
    for pid, p in samples.items():
        assert p.pid == pid
        assert p.cpu_user_seconds_total >= 0 and p.cpu_system_seconds_total >= 0
        assert p.num_threads >= 1 or p.state == "Z"
        assert 0 < p.start_time_seconds <= now + 1
        if p.open_fds is not None and p.max_fds is not None:
            assert p.open_fds <= p.max_fds
    assert 1 in samples


def test_cpu_counters_grow_for_a_busy_process(live: ProcFS) -> None:
    size = os.sysconf("SC_PAGE_SIZE")
    boot = live.stat().boot_time_seconds
    before = live.process(os.getpid(), boot_time_seconds=boot, page_size=size)
    deadline = time.process_time() + 0.15
    while time.process_time() < deadline:
        pass
    after = live.process(os.getpid(), boot_time_seconds=boot, page_size=size)
    assert before is not None and after is not None
    assert after.start_token == before.start_token
    assert after.cpu_seconds_total - before.cpu_seconds_total >= 0.1


def test_zombie_is_read_not_skipped(live: ProcFS) -> None:
    # A zombie keeps stat/status/limits, has an empty cmdline and fd/, and no exe (ENOENT):
    # that ENOENT must not be taken for an exit.
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        zombie = live.processes()[child.pid]
        assert zombie.state == "Z"
        assert zombie.cmdline == ()
        assert zombie.exe is None
        assert zombie.open_fds == 0
        assert zombie.ppid == os.getpid()
    finally:
        child.wait()
