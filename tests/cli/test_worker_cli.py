"""`fleetscope worker`'s process setup around the worker pool (cli/worker.py run_workers)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from fleetscope.cli import worker
from fleetscope.cli.settings import ServerSettings
from fleetscope.cli.wiring import GC_GEN0_THRESHOLD


def test_workers_run_with_the_servers_gc_tuning_and_restore_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []

    class FakePool:
        def __init__(self, *_args: object) -> None:
            pass

        def run(self) -> bool:
            seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
            return True

        def stop(self) -> None:
            pass

    monkeypatch.setattr(worker, "WorkerPool", FakePool)
    monkeypatch.setattr(worker.signal, "signal", lambda *_args: None)
    before = gc.get_threshold()
    assert worker.run_workers(ServerSettings(data_dir=tmp_path), "w-test", 1) is True
    ((threshold, frozen),) = seen
    assert threshold == GC_GEN0_THRESHOLD
    assert frozen > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
