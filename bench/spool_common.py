"""A real snapshot of this host for the spool benchmarks: the default collectors, after a
warm-up cycle so that rates and top processes are filled in as on a running agent."""

from __future__ import annotations

import time
from pathlib import Path

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.registry import select_collectors
from fleetscope.agent.runner import CollectorRunner
from fleetscope.model.payload import Snapshot


def real_snapshot() -> Snapshot:
    context = CollectorContext(ProcFS("/proc"), SysFS("/sys"), Path("/"))
    runner = CollectorRunner(select_collectors(None), context)
    try:
        runner.collect()
        time.sleep(1)
        return runner.collect()
    finally:
        runner.close()
