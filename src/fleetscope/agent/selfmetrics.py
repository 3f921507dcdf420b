"""The agent's own CPU time and resident memory, carried in every snapshot."""

from __future__ import annotations

import functools

import psutil

from fleetscope.model.payload import AgentSelf


@functools.cache
def _me() -> psutil.Process:
    return psutil.Process()


def agent_self() -> AgentSelf:
    me = _me()
    times = me.cpu_times()
    return AgentSelf(
        cpu_seconds_total=times.user + times.system, resident_bytes=me.memory_info().rss
    )
