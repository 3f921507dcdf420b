"""Dotted and UTF-8 metric and label names (issue 14, item 13), as OpenTelemetry, Graphite,
StatsD and Telegraf name them and Prometheus 3 accepts them: taken by the aggregator API and
in pushed exposition text (quoted, as Prometheus 3 writes them), stored as given and read back
by the same name; the documented rule translates them to a Prometheus-2-style name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetscope.model.names import prometheus2_name
from fleetscope.model.series import series_key, split_series_key
from tests.helpers import T0
from tests.server import LiveServer, start_server

EPOCH = T0.timestamp()
NAMES = ["cpu.usage_user", "温度.celsius", "http.server.duration{p99}", 'a,b="c"', "x\\y"]


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def _series(live: LiveServer, device: str, metric: str | None = None) -> list[dict[str, Any]]:
    live.wait_digested()
    params = {"start_time": str(EPOCH - 60), "end_time": str(EPOCH + 60)}
    if metric is not None:
        params["metrics"] = metric
    response = live.client.get(
        f"/api/v1/reports/metrics/{device}", params=params, headers=live.user_headers()
    )
    assert response.status_code == 200, response.text
    series: list[dict[str, Any]] = response.json()["series"]
    return series


def test_the_aggregator_takes_dotted_and_utf8_names_and_reads_them_back(
    live: LiveServer,
) -> None:
    body = {
        "metrics": [
            {
                "device_name": "tsbs-1",
                "metric_name": name,
                "value": i,
                "timestamp": EPOCH,
                "labels": {"host.name": "h-1", "région": "eu"},
            }
            for i, name in enumerate(NAMES)
        ]
    }
    response = live.client.post(
        "/api/v1/aggregator/metrics/batch/", json=body, headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    got = {s["metric"]: s for s in _series(live, "tsbs-1")}
    assert set(got) == set(NAMES)
    for i, name in enumerate(NAMES):
        assert got[name]["labels"] == {"host.name": "h-1", "région": "eu"}
        assert got[name]["points"] == [[EPOCH, float(i)]]
    (one,) = _series(live, "tsbs-1", "cpu.usage_user")
    assert one["metric"] == "cpu.usage_user"


def test_pushed_exposition_with_quoted_names_reads_back(live: LiveServer) -> None:
    text = (
        '# TYPE "cpu.usage_user" gauge\n'
        '{"cpu.usage_user","host.name"="h-1",mode="user"} 12.5\n'
        '{"温度.celsius"} 21\n'
        "legacy_name 1\n"
    )
    response = live.client.post(
        "/api/v1/ingest/prometheus",
        params={"device_name": "edge-1", "timestamp": str(EPOCH)},
        content=text.encode(),
        headers=live.agent_headers(**{"Content-Type": "text/plain; version=0.0.4"}),
    )
    assert response.status_code == 202, response.text
    got = {
        (s["metric"], tuple(sorted(s["labels"].items()))): s["points"]
        for s in _series(live, "edge-1")
    }
    assert got == {
        ("cpu.usage_user", (("host.name", "h-1"), ("mode", "user"))): [[EPOCH, 12.5]],
        ("温度.celsius", ()): [[EPOCH, 21.0]],
        ("legacy_name", ()): [[EPOCH, 1.0]],
    }


def test_series_keys_round_trip_any_name_and_keep_legacy_keys_as_they_were() -> None:
    assert series_key("cpu_seconds_total", {"mode": "user", "cpu": "0"}) == (
        'cpu_seconds_total{cpu="0",mode="user"}'
    )
    assert series_key("cpu.usage_user") == '{"cpu.usage_user"}'
    assert series_key("up", {"host.name": "a"}) == 'up{"host.name"="a"}'
    for name in [*NAMES, "plain_name", "{", "}", "", "a=b"]:
        for labels in ({}, {"x.y": 'v"1', 'we,ird="': "}{", "ok": "\\n"}, {"le": "+Inf"}):
            if not name:
                continue
            assert split_series_key(series_key(name, labels)) == (name, labels), (name, labels)


@pytest.mark.parametrize(
    "bad,why",
    [
        ({"metric_name": ""}, "metric_name"),
        ({"metric_name": "a\x00b"}, "control character"),
        ({"labels": {"__name__": "x"}}, "reserved"),
        ({"labels": {"": "x"}}, "labels"),
        ({"labels": {"a\nb": "x"}}, "control character"),
    ],
)
def test_names_are_still_checked(live: LiveServer, bad: dict[str, Any], why: str) -> None:
    body = {"device_name": "d", "metric_name": "m.x", "value": 1, "timestamp": EPOCH} | bad
    response = live.client.post(
        "/api/v1/aggregator/metrics/", json=body, headers=live.agent_headers()
    )
    assert response.status_code == 422, response.text
    assert why in response.text


def test_the_prometheus2_rule() -> None:
    assert prometheus2_name("cpu.usage_user") == "cpu_usage_user"
    assert prometheus2_name("http.server.request-duration") == "http_server_request_duration"
    assert prometheus2_name("1st.metric") == "_1st_metric"
    assert prometheus2_name("温度.celsius") == "___celsius"
    assert prometheus2_name("already_fine:total") == "already_fine:total"
