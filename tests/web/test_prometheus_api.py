"""The /prometheus API on the in-process server: every kind of fleetscope series under its
Prometheus name, auth, error JSON, staleness, and the listing endpoints."""

from __future__ import annotations

import base64
from typing import Any

from fleetscope.query.promql.params import format_value
from tests.helpers import T0, payload, payload_json
from tests.server import LiveServer

API = "/prometheus/api/v1"
EPOCH = T0.timestamp()


def _ingest_all(live: LiveServer) -> None:
    response = live.client.post(
        "/api/v1/ingest", content=payload_json(payload(n=3)), headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    batch = {
        "metrics": [
            {
                "device_name": "ups-1",
                "metric_name": "ups_load_percent",
                "value": 40 + i,
                "timestamp": EPOCH + 10 * i,
                "labels": {"phase": "a", "host": "rack-7"},
            }
            for i in range(3)
        ]
    }
    response = live.client.post(
        "/api/v1/aggregator/metrics/batch/", json=batch, headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    text = f"door_open 1 {int(EPOCH * 1000)}\ndoor_open NaN {int(EPOCH * 1000) + 15_000}\n"
    response = live.client.post(
        "/api/v1/ingest/prometheus",
        params={"device_name": "door-1"},
        content=text,
        headers=live.agent_headers(**{"Content-Type": "text/plain; version=0.0.4"}),
    )
    assert response.status_code == 202, response.text
    live.wait_digested()


def _query(live: LiveServer, expr: str, at: float) -> dict[str, Any]:
    response = live.client.get(
        f"{API}/query", params={"query": expr, "time": str(at)}, headers=live.user_headers()
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "success"
    return body["data"]


def test_agent_series_are_queryable_with_a_host_label(live: LiveServer) -> None:
    _ingest_all(live)
    data = _query(live, 'cpu_seconds_total{mode="user"}', EPOCH + 25)
    assert data["resultType"] == "vector"
    (only,) = data["result"]
    assert only["metric"] == {"__name__": "cpu_seconds_total", "host": "web-1", "mode": "user"}
    assert only["value"] == [EPOCH + 25, "100"]
    data = _query(live, 'memory_used_bytes{host="web-1"}', EPOCH + 25)
    assert data["result"][0]["value"][1] == "1000000000"


def test_device_series_keep_their_labels_and_a_clashing_host_label_is_renamed(
    live: LiveServer,
) -> None:
    _ingest_all(live)
    (only,) = _query(live, "ups_load_percent", EPOCH + 25)["result"]
    assert only["metric"] == {
        "__name__": "ups_load_percent",
        "host": "ups-1",
        "exported_host": "rack-7",
        "phase": "a",
    }
    assert only["value"][1] == "42"


def test_an_absent_value_is_a_staleness_marker_and_lookback_is_five_minutes(
    live: LiveServer,
) -> None:
    _ingest_all(live)
    assert _query(live, "door_open", EPOCH + 10)["result"][0]["value"][1] == "1"
    assert _query(live, "door_open", EPOCH + 16)["result"] == []  # stale from 15 s on
    assert _query(live, "ups_load_percent", EPOCH + 20 + 300)["result"]  # 5 min: still there
    assert _query(live, "ups_load_percent", EPOCH + 20 + 300.001)["result"] == []


def test_a_range_query_answers_a_matrix_by_get_and_by_form_post(live: LiveServer) -> None:
    _ingest_all(live)
    params = {
        "query": "ups_load_percent * 2",
        "start": str(EPOCH),
        "end": str(EPOCH + 20),
        "step": "10s",
    }
    got = live.client.get(f"{API}/query_range", params=params, headers=live.user_headers())
    posted = live.client.post(f"{API}/query_range", data=params, headers=live.user_headers())
    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json()
    (series,) = got.json()["data"]["result"]
    assert series["values"] == [[EPOCH, "80"], [EPOCH + 10, "82"], [EPOCH + 20, "84"]]
    assert "__name__" not in series["metric"]


def test_reading_needs_a_user_token_and_an_agent_key_is_forbidden(live: LiveServer) -> None:
    params = {"query": "up"}
    assert live.client.get(f"{API}/query", params=params).status_code == 401
    agent = live.client.get(
        f"{API}/query", params=params, headers={"Authorization": f"Bearer {live.agent_key}"}
    )
    assert agent.status_code == 403
    token = live.user_headers()["Authorization"].split()[1]
    basic = base64.b64encode(f"grafana:{token}".encode()).decode()
    ok = live.client.get(f"{API}/query", params=params, headers={"Authorization": f"Basic {basic}"})
    assert ok.status_code == 200, ok.text
    live.client.cookies.clear()  # the login above left its session cookie in the client
    wrong = base64.b64encode(b"grafana:nope").decode()
    refused = live.client.get(
        f"{API}/query", params=params, headers={"Authorization": f"Basic {wrong}"}
    )
    assert refused.status_code == 401


def _error(live: LiveServer, expr: str) -> dict[str, Any]:
    response = live.client.get(
        f"{API}/query", params={"query": expr, "time": str(EPOCH)}, headers=live.user_headers()
    )
    body: dict[str, Any] = response.json()
    assert body["status"] == "error", body
    assert response.status_code == 400
    return body


def test_errors_answer_prometheus_error_json_naming_what_is_wrong(live: LiveServer) -> None:
    assert _error(live, "sum(")["errorType"] == "bad_data"
    assert "label_replace" in _error(live, 'label_replace(up, "a", "b", "c", "d")')["error"]
    assert "subquery" in _error(live, "max_over_time(up[5m:1m])")["error"]
    assert "count_values" in _error(live, 'count_values("v", up)')["error"]
    assert "not supported" in _error(live, "absent(up)")["error"]
    response = live.client.get(f"{API}/query", headers=live.user_headers())
    assert response.status_code == 400
    assert response.json()["error"] == 'invalid parameter "query": missing'
    response = live.client.get(
        f"{API}/query_range",
        params={"query": "up", "start": "0", "end": "1e6", "step": "1"},
        headers=live.user_headers(),
    )
    assert response.status_code == 400
    assert "11,000 points" in response.json()["error"]


def test_series_labels_values_metadata_and_buildinfo(live: LiveServer) -> None:
    _ingest_all(live)
    window = {"start": str(EPOCH - 60), "end": str(EPOCH + 60)}
    headers = live.user_headers()
    series = live.client.get(
        f"{API}/series", params={**window, "match[]": "ups_load_percent"}, headers=headers
    ).json()
    assert series == {
        "status": "success",
        "data": [
            {
                "__name__": "ups_load_percent",
                "exported_host": "rack-7",
                "host": "ups-1",
                "phase": "a",
            }
        ],
    }
    names = live.client.get(f"{API}/labels", params=window, headers=headers).json()["data"]
    assert {"__name__", "host", "mode", "exported_host", "phase"} <= set(names)
    hosts = live.client.get(f"{API}/label/host/values", params=window, headers=headers).json()
    assert hosts["data"] == ["door-1", "ups-1", "web-1"]
    metric_names = live.client.get(
        f"{API}/label/__name__/values", params=window, headers=headers
    ).json()["data"]
    assert "cpu_seconds_total" in metric_names
    assert "door_open" in metric_names
    meta = live.client.get(
        f"{API}/metadata", params={"metric": "cpu_seconds_total"}, headers=headers
    ).json()
    assert meta["status"] == "success"
    info = live.client.get(f"{API}/status/buildinfo", headers=headers).json()
    assert info["data"]["version"] == "2.42.0"
    assert info["data"]["application"] == "fleetscope"
    missing = live.client.get(f"{API}/series", params=window, headers=headers)
    assert missing.status_code == 400
    assert missing.json()["error"] == "no match[] parameter provided"


def test_values_are_written_as_prometheus_writes_them() -> None:
    assert format_value(1.0) == "1"
    assert format_value(0.1) == "0.1"
    assert format_value(1e21) == "1000000000000000000000"
    assert format_value(1.5e-7) == "0.00000015"
    assert format_value(float("nan")) == "NaN"
    assert format_value(float("inf")) == "+Inf"
    assert format_value(float("-inf")) == "-Inf"


def test_ambiguous_matches_answer_an_execution_error(live: LiveServer) -> None:
    _ingest_all(live)
    for expr, words in (
        ("cpu_seconds_total + on(host) memory_used_bytes", "many-to-one matching must be explicit"),
        ("memory_used_bytes * on(host) group_left cpu_seconds_total", "duplicate series"),
        ('rate({__name__=~"memory_used_bytes|memory_total_bytes"}[1m])', "same labelset"),
    ):
        response = live.client.get(
            f"{API}/query",
            params={"query": expr, "time": str(EPOCH + 25)},
            headers=live.user_headers(),
        )
        assert response.status_code == 422, (expr, response.text)
        body = response.json()
        assert body["errorType"] == "execution"
        assert words in body["error"], body


def test_an_instant_query_of_a_range_selector_answers_the_raw_samples(live: LiveServer) -> None:
    _ingest_all(live)
    data = _query(live, "ups_load_percent[1m]", EPOCH + 25)
    assert data["resultType"] == "matrix"
    (series,) = data["result"]
    assert series["values"] == [[EPOCH, "40"], [EPOCH + 10, "41"], [EPOCH + 20, "42"]]
    assert series["metric"]["__name__"] == "ups_load_percent"


def test_long_windows_are_evaluated_in_slices_with_the_same_answer(
    live: LiveServer, monkeypatch: Any
) -> None:
    _ingest_all(live)
    params = {
        "query": "sum_over_time(ups_load_percent[1m]) + rate(ups_load_percent[1m])",
        "start": str(EPOCH),
        "end": str(EPOCH + 120),
        "step": "5",
    }
    whole = live.client.get(f"{API}/query_range", params=params, headers=live.user_headers())
    from fleetscope.query.promql import functions  # noqa: PLC0415

    monkeypatch.setattr(functions, "MAX_CELLS", 2)  # one step per slice
    sliced = live.client.get(f"{API}/query_range", params=params, headers=live.user_headers())
    assert whole.json() == sliced.json()
    assert len(whole.json()["data"]["result"][0]["values"]) == 13  # t = 10 s to 70 s


def test_exporter_series_of_the_agent_are_queryable(live: LiveServer) -> None:
    from msgspec.structs import replace  # noqa: PLC0415

    from fleetscope.model.exporters import ExporterSample, ExporterScrape  # noqa: PLC0415

    scrape = ExporterScrape(
        name="node",
        url="http://127.0.0.1:9100/metrics",
        success=True,
        duration_seconds=0.01,
        samples=[ExporterSample(name="node_load1", labels={"host": "inner"}, value=0.5)],
    )
    body = payload(n=1)
    body = replace(body, snapshots=[replace(body.snapshots[0], exporters=[scrape])])
    response = live.client.post(
        "/api/v1/ingest", content=payload_json(body), headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    live.wait_digested()
    (only,) = _query(live, "exporter_node_load1", EPOCH + 5)["result"]
    assert only["metric"] == {
        "__name__": "exporter_node_load1",
        "host": "web-1",
        "exporter": "node",
        "exported_host": "inner",
    }
    assert only["value"][1] == "0.5"
    (up,) = _query(live, 'exporter_scrape_success{exporter="node"}', EPOCH + 5)["result"]
    assert up["value"][1] == "1"
