"""Validation at the door: every text that reaches a store is free of control characters and
bounded in length, and every time is inside the accepted window (not more than the clock-skew
allowance in the future, not older than the raw retention). The same rules hold in the
embedded and the scaled layout, in the msgspec decoder and in the published JSON Schema; a
refused message is 422 naming the field, and nothing is enqueued."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from fleetscope.model.codec import PayloadError, decode_payload
from fleetscope.model.schema import payload_json_schema
from tests.helpers import payload, raw
from tests.redis_support import REDIS_URL, private_prefix
from tests.server import LiveServer, start_server

LAYOUTS = ["embedded", "scaled"]
RETENTION = {
    "raw_retention_days": 30,
    "rollup_1m_retention_days": 90,
    "rollup_1h_retention_days": 730,
    "process_rollup_retention_days": 730,
}


def _serve(layout: str, data_dir: Path) -> Iterator[LiveServer]:
    if layout == "embedded":
        yield from start_server(data_dir, **RETENTION)
        return
    for prefix in private_prefix():
        yield from start_server(data_dir, stream_url=REDIS_URL, stream_prefix=prefix, **RETENTION)


@pytest.fixture(scope="module", params=LAYOUTS)
def door(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server per layout for the refusals (nothing they send is enqueued)."""
    yield from _serve(request.param, tmp_path_factory.mktemp(request.param) / "data")


@pytest.fixture(params=LAYOUTS)
def fresh_door(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    yield from _serve(request.param, tmp_path / "data")


def now_payload() -> dict[str, Any]:
    return raw(payload(1, start=datetime.now(UTC).replace(microsecond=0)))


def _iface(d: dict[str, Any], name: str) -> None:
    d["snapshots"][0]["network"] = {
        "interfaces": [
            {
                "device": name,
                "receive_bytes_total": 1,
                "receive_packets_total": 1,
                "transmit_bytes_total": 1,
                "transmit_packets_total": 1,
            }
        ]
    }


def _group(d: dict[str, Any], name: str) -> None:
    d["snapshots"][0]["processes"] = {
        "count": 1,
        "groups": [
            {
                "name": name,
                "num_procs": 1,
                "num_threads": 1,
                "cpu_user_seconds_total": 0,
                "cpu_system_seconds_total": 0,
                "read_bytes_total": 0,
                "write_bytes_total": 0,
                "resident_bytes": 0,
                "virtual_bytes": 0,
            }
        ],
    }


def _label(d: dict[str, Any], key: str, value: str) -> None:
    d["snapshots"][0]["exporters"] = [
        {
            "name": "node",
            "url": "http://127.0.0.1:9100/metrics",
            "success": True,
            "samples": [{"name": "up", "labels": {key: value}, "value": 1}],
        }
    ]


def _shifted(delta: timedelta) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        d["snapshots"][0]["timestamp"] = (datetime.now(UTC) + delta).isoformat()

    return mutate


BAD_PAYLOADS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("nul hostname", lambda d: d["host"].update(hostname="web\x00-1"), "host.hostname"),
    ("nul machine id", lambda d: d["host"].update(machine_id="m\x00"), "host.machine_id"),
    ("escape in hostname", lambda d: d["host"].update(hostname="a\x1b[31m"), "host.hostname"),
    ("newline machine id", lambda d: d["host"].update(machine_id="m\n1"), "host.machine_id"),
    ("long hostname", lambda d: d["host"].update(hostname="h" * 256), "host.hostname"),
    ("empty hostname", lambda d: d["host"].update(hostname=""), "host.hostname"),
    ("C1 in device", lambda d: _iface(d, "eth\x850"), "snapshots.0.network.interfaces.0.device"),
    ("tab in group", lambda d: _group(d, "nginx\tworker"), "snapshots.0.processes.groups.0.name"),
    (
        "nul label value",
        lambda d: _label(d, "job", "a\x00b"),
        "snapshots.0.exporters.0.samples.0.labels",
    ),
    (
        "control label name",
        lambda d: _label(d, "j\x07ob", "a"),
        "snapshots.0.exporters.0.samples.0.labels",
    ),
    ("nul in free text", lambda d: d["agent"].update(version="1.0\x00"), "agent.version"),
    ("an hour ahead", _shifted(timedelta(hours=1)), "snapshots.0.timestamp"),
    (
        "the year 2200",
        lambda d: d["snapshots"][0].update(timestamp="2199-01-01T00:00:00Z"),
        "snapshots.0.timestamp",
    ),
    ("older than retention", _shifted(-timedelta(days=31)), "snapshots.0.timestamp"),
]


@pytest.mark.parametrize(
    ("case", "mutate", "field"), BAD_PAYLOADS, ids=[c[0] for c in BAD_PAYLOADS]
)
def test_a_bad_payload_is_422_naming_the_field(
    door: LiveServer, case: str, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    body = now_payload()
    mutate(body)
    response = door.client.post("/api/v1/ingest", json=body, headers=door.agent_headers())
    assert response.status_code == 422, (case, response.text)
    assert response.json()["errors"][0]["field"].startswith(field), response.text
    assert door.server.stream.depth() == 0


def test_inside_the_window_is_accepted(fresh_door: LiveServer) -> None:
    door = fresh_door
    for delta in (timedelta(minutes=9), -timedelta(days=29)):
        body = now_payload()
        _shifted(delta)(body)
        response = door.client.post("/api/v1/ingest", json=body, headers=door.agent_headers())
        assert response.status_code == 202, response.text


def _metric(**change: object) -> dict[str, object]:
    base: dict[str, object] = {
        "device_name": "ups-1",
        "metric_name": "ups_load_percent",
        "value": 1.0,
        "timestamp": datetime.now(UTC).isoformat(),
        "labels": {"phase": "a"},
    }
    return base | change


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"device_name": "ups\x00"}, "device_name"),
        ({"device_name": "ups\u2028\x7f"}, "device_name"),
        ({"device_name": ""}, "device_name"),
        ({"device_name": "u" * 256}, "device_name"),
        ({"labels": {"phase": "a\x00"}}, "labels"),
        ({"labels": {"phase": "a\nb"}}, "labels"),
        ({"unit": "%\x00"}, "unit"),
        ({"timestamp": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "timestamp"),
        ({"timestamp": (datetime.now(UTC) - timedelta(days=31)).timestamp()}, "timestamp"),
    ],
)
def test_a_bad_aggregator_metric_is_422_naming_the_field(
    door: LiveServer, change: dict[str, object], field: str
) -> None:
    response = door.client.post(
        "/api/v1/aggregator/metrics/", json=_metric(**change), headers=door.agent_headers()
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"].endswith(field), response.text
    assert door.server.stream.depth() == 0


def test_names_with_a_slash_are_allowed(fresh_door: LiveServer) -> None:
    door = fresh_door
    response = door.client.post(
        "/api/v1/aggregator/metrics/",
        json=_metric(device_name="rack 3/pdu"),
        headers=door.agent_headers(),
    )
    assert response.status_code == 202, response.text


def test_pushed_exposition_is_checked_alike(door: LiveServer) -> None:
    headers = door.agent_headers(**{"Content-Type": "text/plain"})
    bad_device = door.client.post(
        "/api/v1/ingest/prometheus",
        params={"device_name": "a\x01"},
        content=b"up 1\n",
        headers=headers,
    )
    assert (
        bad_device.status_code == 422 and "device_name" in bad_device.json()["errors"][0]["field"]
    )
    ahead = (datetime.now(UTC) + timedelta(hours=1)).timestamp()
    bad_time = door.client.post(
        "/api/v1/ingest/prometheus",
        params={"device_name": "a", "timestamp": str(ahead)},
        content=b"up 1\n",
        headers=headers,
    )
    assert bad_time.status_code == 422, bad_time.text
    sample_ahead = f"up 1 {round(ahead * 1000)}\n".encode()
    bad_sample = door.client.post(
        "/api/v1/ingest/prometheus",
        params={"device_name": "a"},
        content=sample_ahead,
        headers=headers,
    )
    assert bad_sample.status_code == 422, bad_sample.text
    assert door.server.stream.depth() == 0


# The time window depends on the clock: ingest checks it, not the schema.
SCHEMA_CASES = [c for c in BAD_PAYLOADS if c[2] != "snapshots.0.timestamp"]


@pytest.mark.parametrize(
    ("case", "mutate", "field"), SCHEMA_CASES, ids=[c[0] for c in SCHEMA_CASES]
)
def test_the_decoder_and_the_json_schema_refuse_alike(
    case: str, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    validator = jsonschema_rs.validator_for(payload_json_schema())
    good = now_payload()
    assert validator.is_valid(good)
    decode_payload(json.dumps(good))
    mutate(good)
    with pytest.raises(PayloadError) as refused:
        decode_payload(json.dumps(good))
    assert refused.value.field.startswith(field.split(".labels", maxsplit=1)[0]), refused.value
    assert not validator.is_valid(good), case
