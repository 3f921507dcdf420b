"""The same data in Debian's prometheus (promtool's TSDB import) and in fleetscope (pushed
exposition with timestamps): a fixed set of PromQL expressions, instant and range, must give
the same series and values (1e-9 relative) from both. promtool's `query instant` must work
against fleetscope too."""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import require
from tests.promql_support import (
    DataSet,
    Fleetscope,
    make_data,
    push,
    run_fleetscope,
    run_prometheus,
    wait_for_series,
)

EXPRESSIONS = [
    "node_cpu_seconds_total",
    'node_cpu_seconds_total{mode="user"}',
    'node_cpu_seconds_total{mode!="idle"}',
    'node_cpu_seconds_total{mode=~"us.*|sys.*"}',
    'node_cpu_seconds_total{mode!~"user|idle",cpu="1"}',
    'temperature_celsius{host=~"al.*"}',
    '{__name__=~"temperature_.*"}',
    "rate(node_cpu_seconds_total[5m])",
    "rate(node_cpu_seconds_total[1m])",
    "irate(node_cpu_seconds_total[5m])",
    "increase(http_requests_total[10m])",
    "delta(temperature_celsius[5m])",
    "idelta(temperature_celsius[2m])",
    "deriv(memory_used_bytes[10m])",
    "avg_over_time(temperature_celsius[5m])",
    "min_over_time(temperature_celsius[5m])",
    "max_over_time(temperature_celsius[5m])",
    "sum_over_time(temperature_celsius[3m])",
    "count_over_time(temperature_celsius[5m])",
    "last_over_time(temperature_celsius[5m])",
    "quantile_over_time(0.9, temperature_celsius[10m])",
    "stddev_over_time(temperature_celsius[10m])",
    "sum(rate(node_cpu_seconds_total[5m]))",
    "sum by (host) (rate(node_cpu_seconds_total[5m]))",
    "sum without (cpu) (rate(node_cpu_seconds_total[5m]))",
    'avg by (host) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))',
    "min by (mode) (rate(node_cpu_seconds_total[5m]))",
    "max by (mode) (rate(node_cpu_seconds_total[5m]))",
    "count by (host) (node_cpu_seconds_total)",
    "topk(2, temperature_celsius)",
    "bottomk(1, memory_used_bytes)",
    "quantile by (sensor) (0.5, temperature_celsius)",
    "memory_used_bytes / 2^30",
    "100 - temperature_celsius",
    "temperature_celsius > 45",
    "temperature_celsius > bool 45",
    "50 < temperature_celsius",
    'rate(http_requests_total{code="500"}[5m])'
    ' / ignoring(code) rate(http_requests_total{code="200"}[5m])',
    'sum by (host) (rate(node_cpu_seconds_total{mode="user"}[5m]))'
    " / on(host) sum by (host) (rate(node_cpu_seconds_total[5m]))",
    "rate(node_cpu_seconds_total[5m])"
    " / on(host) group_left sum by (host) (rate(node_cpu_seconds_total[5m]))",
    "sum by (host) (rate(node_cpu_seconds_total[5m]))"
    " * on(host) group_right max by (host, sensor) (temperature_celsius)",
    "histogram_quantile(0.9, rate(request_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(request_seconds_bucket[10m])))",
    "rate(request_seconds_sum[5m]) / rate(request_seconds_count[5m])",
    "temperature_celsius offset 5m",
    "rate(node_cpu_seconds_total[5m] offset 10m)",
    "temperature_celsius - temperature_celsius offset 1m",
    "-temperature_celsius",
    "temperature_celsius == bool on(host, sensor) temperature_celsius",
    "sum(memory_used_bytes) / count(memory_used_bytes)",
    "memory_used_bytes and on(host) (temperature_celsius > 50)",
    "abs(delta(temperature_celsius[5m]))",
    "temperature_celsius @ start()",
    "rate(node_cpu_seconds_total[5m] @ end())",
    "stdvar_over_time(temperature_celsius[10m])",
    "quantile(0.25, rate(node_cpu_seconds_total[5m]))",
    "topk by (host) (1, temperature_celsius)",
    "temperature_celsius > on(host, sensor) (temperature_celsius offset 1m)",
    'node_cpu_seconds_total * on(host) group_left(sensor) temperature_celsius{sensor="a"}',
    'temperature_celsius{sensor="a"} or memory_used_bytes',
    'temperature_celsius unless on(host) temperature_celsius{host="beta"}',
    "scalar(sum(memory_used_bytes)) / 1e9",
    "time() - 1",
    "1 + 2 * 3",
    "vector(1) + 0.5",
    "clamp_max(temperature_celsius, 45)",
    "round(temperature_celsius, 5)",
    "increase(node_cpu_seconds_total[2m])",
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Fleetscope, DataSet]]:
    require(shutil.which("prometheus") is not None, "Debian's prometheus is not installed")
    tmp = tmp_path_factory.mktemp("promql")
    data = make_data(int(time.time() * 1000))
    fs_gen = run_fleetscope(tmp / "fleetscope")
    fs = next(fs_gen)
    prom_gen = run_prometheus(tmp, data)
    prom = next(prom_gen)
    try:
        push(fs, tmp / "fleetscope", data)
        wait_for_series(fs, data)
        yield prom, fs, data
    finally:
        for gen in (prom_gen, fs_gen):
            with_close(gen)


def with_close(gen: Iterator[Any]) -> None:
    close = getattr(gen, "close", None)
    if close is not None:
        close()


def _key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metric.items()))


def _same(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _compare(expr: str, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert ours["status"] == theirs["status"] == "success", (expr, ours, theirs)
    a, b = ours["data"], theirs["data"]
    assert a["resultType"] == b["resultType"], expr
    if a["resultType"] == "scalar":
        assert _same(a["result"][1], b["result"][1]), expr
        return
    mine = {_key(r["metric"]): r for r in a["result"]}
    real = {_key(r["metric"]): r for r in b["result"]}
    assert mine.keys() == real.keys(), (expr, sorted(mine), sorted(real))
    assert real, f"{expr}: an empty answer proves nothing"
    for key, r in real.items():
        m = mine[key]
        if "value" in r:
            assert m["value"][0] == pytest.approx(r["value"][0]), (expr, key)
            assert _same(m["value"][1], r["value"][1]), (expr, key, m["value"], r["value"])
        else:
            assert [p[0] for p in m["values"]] == pytest.approx([p[0] for p in r["values"]]), (
                expr,
                key,
            )
            bad = [
                (p, q)
                for p, q in zip(m["values"], r["values"], strict=True)
                if not _same(p[1], q[1])
            ]
            assert not bad, (expr, key, bad[:3])


def test_at_least_forty_expressions() -> None:
    assert len(EXPRESSIONS) >= 40


def test_instant_queries_match_prometheus(servers: tuple[str, Fleetscope, DataSet]) -> None:
    prom, fs, data = servers
    times = [data.start_ms + 20 * 60_000 + 7_000, data.start_ms + 30 * 60_000, data.end_ms - 1_000]
    with httpx.Client(timeout=30) as client:
        for expr in EXPRESSIONS:
            for at in times:
                params = {"query": expr, "time": f"{at / 1000:.3f}"}
                theirs = client.get(f"{prom}/api/v1/query", params=params).json()
                ours = fs.client.get(
                    "/prometheus/api/v1/query", params=params, headers=fs.headers()
                ).json()
                _compare(expr, ours, theirs)


def test_range_queries_match_prometheus(servers: tuple[str, Fleetscope, DataSet]) -> None:
    prom, fs, data = servers
    form = {
        "start": f"{(data.start_ms + 12 * 60_000) / 1000:.3f}",
        "end": f"{(data.end_ms + 3 * 60_000) / 1000:.3f}",
        "step": "37s",
    }
    with httpx.Client(timeout=30) as client:
        for expr in EXPRESSIONS:
            theirs = client.post(f"{prom}/api/v1/query_range", data={**form, "query": expr}).json()
            # POST with a form body, as Grafana sends it.
            ours = fs.client.post(
                "/prometheus/api/v1/query_range",
                data={**form, "query": expr},
                headers=fs.headers(),
            ).json()
            _compare(expr, ours, theirs)


def test_promtool_queries_fleetscope(servers: tuple[str, Fleetscope, DataSet]) -> None:
    _, fs, data = servers
    promtool = shutil.which("promtool")
    assert promtool is not None
    # promtool 2.42 has no header flag: basic auth in the URL, the login token as password.
    url = fs.url.replace("http://", f"http://grafana:{fs.token}@") + "/prometheus"
    at = f"{(data.end_ms - 60_000) / 1000:.3f}"
    done = subprocess.run(
        [promtool, "query", "instant", f"--time={at}", url, "sum by (host) (memory_used_bytes)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = sorted(done.stdout.strip().splitlines())
    assert len(lines) == 3
    expected = {
        host: [v for ms, v in points if ms <= data.end_ms - 60_000][-1]
        for (host, name, _), points in data.series.items()
        if name == "memory_used_bytes"
    }
    for line in lines:
        host = line.split('host="')[1].split('"')[0]
        assert float(line.split("=>")[1].split("@")[0]) == expected[host]
