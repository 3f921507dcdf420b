"""The fleet summary shows an aggregator device's own metrics (issue 14, item 6): `ups-1`
counted as a live host, and its ups_load_percent over the range beside it."""

from __future__ import annotations

import time

from fleetscope.query.devices import MAX_DEVICE_METRICS
from tests.server import LiveServer


def test_a_devices_own_metrics_appear_in_the_summary(live: LiveServer) -> None:
    now = time.time()
    body = {
        "metrics": [
            {
                "device_name": "ups-1",
                "metric_name": "ups_load_percent",
                "value": value,
                "timestamp": now - ago,
                "labels": {"phase": "1"},
            }
            for ago, value in ((120, 40.0), (60, 50.0), (1, 60.0))
        ]
    }
    response = live.client.post(
        "/api/v1/aggregator/metrics/batch/", json=body, headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    live.wait_digested()
    summary = live.client.get(
        "/api/v1/reports/summary", params={"time_range": 24}, headers=live.user_headers()
    ).json()
    assert summary["hosts"]["live"] == 1
    (device,) = summary["devices"]
    assert (device["name"], device["metrics_total"]) == ("ups-1", 1)
    assert device["metrics"] == [
        {
            "metric": "ups_load_percent",
            "labels": {"phase": "1"},
            "avg": 50.0,
            "min": 40.0,
            "max": 60.0,
            "samples": 3,
        }
    ]


def test_a_device_of_many_series_is_summarised_by_its_first_ones(live: LiveServer) -> None:
    now = time.time()
    body = {
        "metrics": [
            {"device_name": "edge", "metric_name": f"m{i:03}", "value": i, "timestamp": now - 5}
            for i in range(MAX_DEVICE_METRICS + 20)
        ]
    }
    response = live.client.post(
        "/api/v1/aggregator/metrics/batch/", json=body, headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    live.wait_digested()
    summary = live.client.get("/api/v1/reports/summary", headers=live.user_headers()).json()
    (device,) = summary["devices"]
    assert device["metrics_total"] == MAX_DEVICE_METRICS + 20
    assert [m["metric"] for m in device["metrics"]] == [
        f"m{i:03}" for i in range(MAX_DEVICE_METRICS)
    ]
