"""The psutil path, with process_iter results injected (no Windows or macOS needed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.processes.groups import ProcessGrouper, group_processes
from fleetscope.agent.processes.psutil_source import (
    PSUTIL_ATTRS,
    sample_from_psutil,
    samples_from_psutil,
    scan_psutil,
)
from tests.conftest import require


class FakeProcess:
    """What process_iter(attrs=..., ad_value=None) yields: `info`, and methods on demand."""

    def __init__(self, info: dict[str, Any], nofile: tuple[int, int] | Exception | None = None):
        self.info = info
        self.pid = info["pid"]
        if nofile is not None:
            self.rlimit = self._rlimit
        self._nofile = nofile

    def _rlimit(self, resource: int) -> tuple[int, int]:
        assert resource == psutil.RLIMIT_NOFILE
        if isinstance(self._nofile, Exception):
            raise self._nofile
        assert self._nofile is not None
        return self._nofile


def windows_like(pid: int, name: str, **overrides: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "pid": pid,
        "ppid": 4,
        "name": name,
        "cmdline": [f"C:\\Program Files\\{name}", "--serve"],
        "exe": f"C:\\Program Files\\{name}",
        "username": "HOST\\svc",
        "status": psutil.STATUS_RUNNING,
        "create_time": 1_700_000_123.456789,
        "cpu_times": SimpleNamespace(user=12.5, system=3.25, children_user=0.0),
        "memory_info": SimpleNamespace(rss=50_000_000, vms=120_000_000),
        "io_counters": SimpleNamespace(read_bytes=4096, write_bytes=8192),
        "num_threads": 17,
        "num_ctx_switches": SimpleNamespace(voluntary=100, involuntary=5),
    }
    info.update(overrides)
    return info


def test_windows_like_process_without_uids_or_fds() -> None:
    sample = sample_from_psutil(windows_like(4242, "svc.exe"))
    assert sample is not None
    assert sample.pid == 4242
    assert sample.cmdline == ("C:\\Program Files\\svc.exe", "--serve")
    assert sample.uid is None
    assert sample.username == "HOST\\svc"
    assert sample.state == "R"
    assert sample.start_time_seconds == 1_700_000_123.456789
    assert sample.start_token == 1_700_000_123_456_789
    assert (sample.cpu_user_seconds_total, sample.cpu_system_seconds_total) == (12.5, 3.25)
    assert (sample.resident_bytes, sample.virtual_bytes) == (50_000_000, 120_000_000)
    assert (sample.read_bytes_total, sample.write_bytes_total) == (4096, 8192)
    assert sample.num_threads == 17
    assert sample.open_fds is None
    assert sample.max_fds is None
    assert sample.swap_bytes is None
    assert (sample.voluntary_ctx_switches_total, sample.nonvoluntary_ctx_switches_total) == (
        100,
        5,
    )
    assert sample.minor_faults_total is None


def test_macos_like_denied_fields_are_none_or_skip() -> None:
    # macOS has no io_counters; uids are there; another user's cpu_times may be denied.
    info = windows_like(
        501,
        "Safari",
        io_counters=None,
        uids=SimpleNamespace(real=501, effective=501, saved=501),
        num_fds=40,
        status=psutil.STATUS_SLEEPING,
    )
    processes = [
        FakeProcess(info, nofile=(256, 2**63 - 1)),
        FakeProcess(windows_like(88, "WindowServer", cpu_times=None)),
        FakeProcess(windows_like(89, "launchd", create_time=None)),
    ]
    samples = samples_from_psutil(processes)
    assert list(samples) == [501]
    s = samples[501]
    assert s.read_bytes_total is None
    assert s.uid == 501
    assert s.open_fds == 40
    assert s.max_fds == 256
    assert s.state == "S"


def test_unlimited_or_unreadable_fd_limit_is_none() -> None:
    infinite = FakeProcess(windows_like(1, "a"), nofile=(psutil.RLIM_INFINITY, -1))
    denied = FakeProcess(windows_like(2, "b"), nofile=psutil.AccessDenied(2))
    samples = samples_from_psutil([infinite, denied])
    assert samples[1].max_fds is None
    assert samples[2].max_fds is None


def test_process_gone_while_reading_rlimit_is_skipped() -> None:
    class Gone(FakeProcess):
        def _rlimit(self, resource: int) -> tuple[int, int]:
            raise psutil.NoSuchProcess(self.pid)

    # NoSuchProcess is a psutil.Error: the limit is unknown, the sample is kept; psutil's
    # own process_iter already drops processes that vanish while `info` is filled.
    samples = samples_from_psutil([Gone(windows_like(9, "x"), nofile=(1, 1))])
    assert samples[9].max_fds is None


def test_scan_psutil_passes_attrs_and_ad_value() -> None:
    calls: list[dict[str, Any]] = []

    def fake_iter(**kwargs: Any) -> Iterator[FakeProcess]:
        calls.append(kwargs)
        yield FakeProcess(windows_like(10, "svc.exe"))

    samples = scan_psutil(fake_iter)
    assert list(samples) == [10]
    assert calls == [{"attrs": list(PSUTIL_ATTRS), "ad_value": None}]
    assert "pid" in PSUTIL_ATTRS
    assert all(hasattr(psutil.Process, a) for a in PSUTIL_ATTRS)


def test_psutil_samples_group_like_procfs_ones() -> None:
    samples = samples_from_psutil(
        [FakeProcess(windows_like(i, "svc.exe")) for i in (1, 2)]
        + [FakeProcess(windows_like(3, "db.exe"))]
    )
    groups = group_processes(samples, ProcessGrouper())
    assert groups["svc.exe"].num_procs == 2
    assert groups["svc.exe"].num_threads == 34


def test_real_psutil_agrees_with_procfs_for_this_process() -> None:
    require(os.path.isfile("/proc/self/stat"), "no Linux /proc on this machine")
    mine = scan_psutil()[os.getpid()]
    size = os.sysconf("SC_PAGE_SIZE")
    procfs = ProcFS()
    ours = procfs.process(
        os.getpid(), boot_time_seconds=procfs.stat().boot_time_seconds, page_size=size
    )
    assert ours is not None
    assert mine.cmdline == ours.cmdline
    assert mine.ppid == ours.ppid
    assert mine.uid == ours.uid
    assert mine.exe == ours.exe
    assert mine.max_fds == ours.max_fds
    assert mine.start_time_seconds == pytest.approx(ours.start_time_seconds, abs=0.02)
    assert mine.cpu_seconds_total == pytest.approx(ours.cpu_seconds_total, abs=0.2)
