"""model/aggregator.py decode_batch, the aggregator batch's fast path, against the pydantic
models it stands in for (model/devices.py AggregatorBatch): whatever it accepts, the models
accept with the same times and values; whatever the models refuse, it leaves to them (None),
so that the 422 and its field paths stay theirs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from fleetscope.model.aggregator import decode_batch
from fleetscope.model.devices import AggregatorBatch
from fleetscope.model.series_keys import series_key
from fleetscope.store.engine import ms_of

AT = 1_800_000_000


def metric(**change: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "device_name": "rack-3",
        "metric_name": "cpu_usage_user",
        "value": 12.5,
        "timestamp": AT,
        "labels": {"region": "eu-west-1", "rack": "3"},
    }
    return {**base, **change}


def body(*metrics: dict[str, Any]) -> bytes:
    return json.dumps({"metrics": list(metrics)}).encode()


ACCEPTED = [
    pytest.param(metric(), id="plain"),
    pytest.param(metric(timestamp=AT + 0.25), id="fractional epoch"),
    pytest.param(metric(timestamp=str(AT)), id="epoch as text"),
    pytest.param(metric(timestamp="2026-11-22T08:00:00Z"), id="iso Z"),
    pytest.param(metric(timestamp="2026-11-22T09:00:00.123+01:00"), id="iso offset"),
    pytest.param(metric(value=3), id="integer value"),
    pytest.param(metric(labels={}), id="no labels"),
    pytest.param({k: v for k, v in metric().items() if k != "labels"}, id="labels left out"),
    pytest.param(metric(unit="percent"), id="unit"),
    pytest.param(metric(unit=None), id="unit null"),
    pytest.param(metric(metric_name="cpu.usage user"), id="dotted name"),
    pytest.param(metric(labels={"a": "x" * 1024}), id="longest label value"),
    pytest.param(metric(labels={f"l{i}": "v" for i in range(32)}), id="32 labels"),
    pytest.param(metric(device_name="web 1/ü"), id="device name with space and slash"),
]


@pytest.mark.parametrize("sample", ACCEPTED)
def test_what_it_accepts_the_models_accept_alike(sample: dict[str, Any]) -> None:
    data = body(sample, metric(metric_name="other", timestamp=AT + 10))
    fast = decode_batch(data)
    assert fast is not None
    slow = AggregatorBatch.model_validate_json(data).metrics
    assert fast.ms == [ms_of(m.timestamp) for m in slow]
    assert fast.keys == [series_key(m.metric_name, m.labels) for m in slow]
    assert fast.devices == [m.device_name for m in slow]
    assert fast.values == [m.value for m in slow]
    assert fast.seconds == {m.timestamp.timestamp(): i for i, m in enumerate(slow)}


REFUSED = [
    pytest.param(metric(device_name=""), id="empty device"),
    pytest.param(metric(device_name=" web"), id="device with a leading space"),
    pytest.param(metric(device_name="w" * 256), id="device name too long"),
    pytest.param(metric(device_name="a\x00b"), id="NUL in device"),
    pytest.param(metric(metric_name=""), id="empty metric name"),
    pytest.param(metric(metric_name="a\tb"), id="tab in metric name"),
    pytest.param(metric(metric_name="m" * 201), id="metric name too long"),
    pytest.param(metric(labels={"__name__": "x"}), id="reserved label"),
    pytest.param(metric(labels={"": "x"}), id="empty label name"),
    pytest.param(metric(labels={"a": "x\x85"}), id="C1 control in label value"),
    pytest.param(metric(labels={"a": "x" * 1025}), id="label value too long"),
    pytest.param(metric(labels={f"l{i}": "v" for i in range(33)}), id="33 labels"),
    pytest.param(metric(labels={"a": 1}), id="label value a number"),
    pytest.param(metric(value=1e400), id="infinite value"),
    pytest.param(metric(timestamp="2026-11-22T08:00:00"), id="iso without offset"),
    pytest.param(metric(timestamp=946_684_799), id="year 1999"),
    pytest.param(metric(timestamp="7289654400"), id="year 2201"),
    pytest.param(metric(timestamp=True), id="boolean timestamp"),
    pytest.param(metric(timestamp="yesterday"), id="not a time"),
    pytest.param(metric(unit=""), id="empty unit"),
    pytest.param(metric(unit="u" * 65), id="unit too long"),
    pytest.param(metric(extra=1), id="unknown field"),
    pytest.param({k: v for k, v in metric().items() if k != "value"}, id="value missing"),
]


@pytest.mark.parametrize("sample", REFUSED)
def test_what_the_models_refuse_it_leaves_to_them(sample: dict[str, Any]) -> None:
    data = body(metric(), sample)
    with pytest.raises(ValidationError):
        AggregatorBatch.model_validate_json(data)
    assert decode_batch(data) is None
    assert decode_batch(data) is None  # and again, with the good strings remembered


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'{"metrics": []}', id="no metrics"),
        pytest.param(body(*[metric(timestamp=AT + i) for i in range(10_001)]), id="10,001"),
        pytest.param(b'{"metrics": [', id="not JSON"),
        pytest.param(b'{"metrics": [], "other": 1}', id="unknown top-level field"),
    ],
)
def test_refused_batches_are_left_to_the_models(data: bytes) -> None:
    with pytest.raises(ValidationError):
        AggregatorBatch.model_validate_json(data)
    assert decode_batch(data) is None


@pytest.mark.parametrize(("value", "read"), [("12.5", 12.5), (True, 1.0)])
def test_forms_only_the_lax_models_read_are_left_to_them(value: object, read: float) -> None:
    data = body(metric(value=value))  # pydantic reads a numeric string, a boolean as a float
    assert AggregatorBatch.model_validate_json(data).metrics[0].value == read
    assert decode_batch(data) is None
