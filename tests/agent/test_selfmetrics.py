"""The agent's own figures agree with psutil's."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from fleetscope.agent import selfmetrics
from fleetscope.agent.selfmetrics import agent_self


def test_agent_self_agrees_with_psutil() -> None:
    me = psutil.Process()
    times = me.cpu_times()
    ours = agent_self()
    rss = me.memory_info().rss
    assert abs(ours.cpu_seconds_total - (times.user + times.system)) < 0.1
    assert abs(ours.resident_bytes - rss) <= 4 * 1024 * 1024
    before = ours.cpu_seconds_total
    deadline = time.process_time() + 0.02
    while time.process_time() < deadline:
        pass
    assert agent_self().cpu_seconds_total >= before + 0.02


def test_statm_is_kept_open_and_read_afresh() -> None:
    selfmetrics._statm.close()
    first = agent_self().resident_bytes
    fd = selfmetrics._statm._fd
    assert fd is not None
    grown = bytearray(64 * 1024 * 1024)  # touched: resident
    for index in range(0, len(grown), 4096):
        grown[index] = 1
    second = agent_self().resident_bytes
    assert selfmetrics._statm._fd == fd  # the same descriptor, not reopened
    assert second >= first + 32 * 1024 * 1024
    del grown


def test_statm_is_reopened_when_the_pid_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a forked child sees: its pid differs from the opener's. (A real fork is avoided:
    with the suite's leftover threads, os.fork warns, and -W error makes that a failure.)"""
    agent_self()
    first = selfmetrics._statm._fd
    assert first is not None
    real = os.getpid()
    closed: list[int] = []
    close = os.close
    monkeypatch.setattr(os, "getpid", lambda: real + 1)
    monkeypatch.setattr(os, "close", lambda fd: (closed.append(fd), close(fd))[1])
    assert agent_self().resident_bytes > 0
    assert selfmetrics._statm._pid == real + 1
    # The inherited descriptor was closed and statm opened again, by the "child".
    assert closed == [first]
    monkeypatch.undo()
    agent_self()
    assert selfmetrics._statm._pid == real
