"""store/maintenance.py on its own: when the hourly upkeep and the rollup step are due (Pacer
reads the injected clock), what a failed pass leaves for the next call, and that the digest
loop runs the upkeep before its writes, and only then (digest/worker.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from fleetscope.digest.worker import DigestWorker
from fleetscope.model.kinds import AGENT_PAYLOAD
from fleetscope.store.maintenance import Pacer, StoreMaintenance
from fleetscope.store.partitions import FramePartitions, MaintenanceResult
from fleetscope.store.rollups import RollupResult, Rollups
from fleetscope.store.writer import StoreWriter
from fleetscope.stream.base import NewMessage
from fleetscope.stream.sqlite import SQLiteStream
from tests.helpers import T0, payload, payload_json
from tests.snapshots import count_snapshots

T0_S = T0.timestamp()


def _outage() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("the database went away"))


class _Partitions(FramePartitions):
    """Counts the maintenance passes that reach the partitions and the forget() calls; the
    first `failures` passes fail as an outage would."""

    def __init__(self, engine: Engine, failures: int = 0) -> None:
        super().__init__(engine)
        self.failures = failures
        self.passes = 0
        self.forgotten = 0

    def maintain(self, *args: Any, **kwargs: Any) -> MaintenanceResult:
        self.passes += 1
        if self.passes <= self.failures:
            raise _outage()
        return super().maintain(*args, **kwargs)

    def forget(self) -> None:
        self.forgotten += 1
        super().forget()


class _FailingRollups(Rollups):
    def run(self, before_ms: int | None = None, max_rounds: int = 1000) -> RollupResult:
        raise _outage()


def test_pacer_is_due_at_first_then_once_per_interval() -> None:
    now = [100.0]
    pacer = Pacer(10.0, lambda: now[0])
    assert pacer.due()
    pacer.ran()
    assert not pacer.due()
    now[0] = 109.999
    assert not pacer.due()
    now[0] = 110.0  # exactly one interval later
    assert pacer.due()
    pacer.ran()
    assert not pacer.due()


def test_maintenance_runs_at_the_first_call_then_once_an_hour(engine: Engine) -> None:
    now = [T0_S]
    partitions = _Partitions(engine)
    maintenance = StoreMaintenance(engine, partitions, clock=lambda: now[0])
    assert maintenance.maintain_if_due() is not None
    now[0] += 3599
    assert maintenance.maintain_if_due() is None
    now[0] += 1
    assert maintenance.maintain_if_due() is not None
    assert partitions.passes == 2
    # A pass called directly (the server's, at start) restarts the hour.
    now[0] += 3600
    maintenance.maintain()
    assert maintenance.maintain_if_due() is None
    assert (partitions.passes, partitions.forgotten) == (3, 0)


def test_a_failed_maintenance_pass_is_tried_again_at_the_next_call(engine: Engine) -> None:
    partitions = _Partitions(engine, failures=1)
    maintenance = StoreMaintenance(engine, partitions, clock=lambda: T0_S)
    with pytest.raises(OperationalError):
        maintenance.maintain_if_due()
    # A partition the writer knew may be gone: the shared partitions forget what they knew.
    assert partitions.forgotten == 1
    assert maintenance.maintain_if_due() is not None  # the failure did not count as a pass
    assert maintenance.maintain_if_due() is None
    assert partitions.passes == 2


def test_rollup_step_is_paced_and_a_forced_run_restarts_the_interval(engine: Engine) -> None:
    now = [T0_S]
    maintenance = StoreMaintenance(engine, clock=lambda: now[0], rollup_interval_seconds=10)
    assert maintenance.roll_up() is not None  # the first call runs
    assert maintenance.roll_up() is None
    now[0] += 10
    assert maintenance.roll_up() is not None
    now[0] += 5
    assert maintenance.roll_up(force=True) is not None  # forced: whenever asked
    now[0] += 9
    assert maintenance.roll_up() is None  # the interval counts from the forced run
    now[0] += 1
    assert maintenance.roll_up() is not None


def test_a_failed_rollup_step_waits_for_the_interval(engine: Engine) -> None:
    now = [T0_S]
    maintenance = StoreMaintenance(engine, clock=lambda: now[0], rollup_interval_seconds=10)
    maintenance.rollups = _FailingRollups(engine)
    with pytest.raises(OperationalError):
        maintenance.roll_up()
    assert maintenance.roll_up() is None  # the marks stay for the next round
    now[0] += 10
    with pytest.raises(OperationalError):
        maintenance.roll_up()


def _frames(engine: Engine) -> int:
    return count_snapshots(engine)


def _message(machine_id: str) -> NewMessage:
    return NewMessage(AGENT_PAYLOAD, 1, payload_json(payload(2, machine_id=machine_id)))


def test_digest_maintains_before_its_writes_once_an_hour(engine: Engine, tmp_path: Path) -> None:
    now = [T0_S]
    stream = SQLiteStream(tmp_path / "stream.db")
    try:
        writer = StoreWriter(engine)
        partitions = _Partitions(engine)
        maintenance = StoreMaintenance(engine, partitions, clock=lambda: now[0])
        worker = DigestWorker(stream, writer, maintenance=maintenance, linger_seconds=0)
        assert worker.run_once(block_seconds=0) == 0
        assert partitions.passes == 0  # nothing to write: no upkeep either
        stream.enqueue([_message("m-1")])
        assert worker.run_once(block_seconds=0) == 1
        assert (partitions.passes, _frames(engine)) == (1, 2)
        now[0] += 1800
        stream.enqueue([_message("m-2")])
        assert worker.run_once(block_seconds=0) == 1
        assert (partitions.passes, _frames(engine)) == (1, 4)  # within the hour
        now[0] += 1800
        stream.enqueue([_message("m-3")])
        assert worker.run_once(block_seconds=0) == 1
        assert (partitions.passes, _frames(engine)) == (2, 6)
    finally:
        stream.close()


def test_digest_writes_nothing_when_the_upkeep_before_it_fails(
    engine: Engine, tmp_path: Path
) -> None:
    """As when the writer ran it: an outage during upkeep leaves the batch unacknowledged for
    the back-off, and the upkeep is tried again before the next write."""
    stream = SQLiteStream(tmp_path / "stream.db")
    try:
        partitions = _Partitions(engine, failures=1)
        maintenance = StoreMaintenance(engine, partitions, clock=lambda: T0_S)
        worker = DigestWorker(stream, StoreWriter(engine), maintenance=maintenance)
        stream.enqueue([_message("m-1")])
        with pytest.raises(OperationalError):
            worker.run_once(block_seconds=0)
        assert (_frames(engine), stream.depth(), worker.stats.batches_written) == (0, 1, 0)
        stream.enqueue([_message("m-2")])
        assert worker.run_once(block_seconds=0) == 1
        assert (partitions.passes, _frames(engine), stream.depth()) == (2, 2, 1)
    finally:
        stream.close()
