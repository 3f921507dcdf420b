"""The agent's own figures agree with psutil's."""

from __future__ import annotations

import time

import psutil

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
