"""agent/rates.py: counter deltas and per-second rates between snapshots, with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

from fleetscope.agent.rates import CounterRates, Interval


def _clock(*times: float) -> Iterator[float]:
    return iter(times)


def test_first_sight_then_rates_then_reset_then_recovery() -> None:
    ticks = _clock(100.0, 102.0, 104.0, 105.0)
    rates: CounterRates[str] = CounterRates(lambda: next(ticks))
    assert rates.update({"eth0": {"rx": 1000, "tx": 10}}) == {"eth0": None}
    second = rates.update({"eth0": {"rx": 3000, "tx": 10}})["eth0"]
    assert second == Interval(2.0, {"rx": 2000, "tx": 0})
    assert second.per_second("rx") == 1000.0 and second.per_second("tx") == 0.0
    # rx went down: a reset or a 32-bit wrap, which look the same; no rate, never negative.
    third = rates.update({"eth0": {"rx": 500, "tx": 30}})["eth0"]
    assert third is not None
    assert third.delta("rx") is None and third.per_second("rx") is None
    assert third.per_second("tx") == 10.0
    fourth = rates.update({"eth0": {"rx": 800, "tx": 30}})["eth0"]
    assert fourth is not None and fourth.per_second("rx") == 300.0


def test_appearing_and_disappearing_entities() -> None:
    ticks = _clock(0.0, 10.0, 20.0, 30.0)
    rates: CounterRates[str] = CounterRates(lambda: next(ticks))
    rates.update({"sda": {"reads": 0}})
    both = rates.update({"sda": {"reads": 100}, "sdb": {"reads": 5}})
    assert both["sda"] == Interval(10.0, {"reads": 100}) and both["sdb"] is None
    # sda unplugged: forgotten, so when it comes back it starts again without a rate rather
    # than being compared with the counters of its previous life.
    rates.update({"sdb": {"reads": 25}})
    back = rates.update({"sda": {"reads": 7}, "sdb": {"reads": 45}})
    assert back["sda"] is None
    assert back["sdb"] is not None and back["sdb"].per_second("reads") == 2.0


def test_absent_fields_and_a_clock_that_did_not_move() -> None:
    ticks = _clock(5.0, 5.0, 6.0)
    rates: CounterRates[tuple[str, int]] = CounterRates(lambda: next(ticks))
    rates.update({("nvme0n1", 1): {"flush": None, "reads": 1}})
    assert rates.update({("nvme0n1", 1): {"flush": 3, "reads": 2}}) == {("nvme0n1", 1): None}
    later = rates.update({("nvme0n1", 1): {"flush": 4, "reads": 2}})[("nvme0n1", 1)]
    assert later == Interval(1.0, {"flush": 1, "reads": 0})
