"""The exporters collector: per-target isolation (good text, good OpenMetrics, 500, timeout,
garbage, refused), the Content-Type deciding the parser, filters, the sample limit, NaN/Inf on
the wire and in series, settings, and a scrape of the real Debian node_exporter."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.collectors.exporters import (
    ACCEPT,
    ExportersCollector,
    ExportersSettings,
    ExporterTarget,
)
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.registry import REGISTRY, select_collectors
from fleetscope.agent.runner import CollectorRunner
from fleetscope.agent.settings import AgentSettings
from fleetscope.config.settings import ConfigError, settings_from
from fleetscope.exposition.parse import parse_exposition
from fleetscope.model.codec import PayloadError, convert, decode_snapshot, encode
from fleetscope.model.exporters import ExporterSample, ExporterScrape
from fleetscope.model.payload import AgentInfo, HostIdentity, Payload, Snapshot
from fleetscope.model.series import flatten_snapshot
from tests.conftest import require
from tests.helpers import T0, free_port
from tests.server import LiveServer

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

GOOD_TEXT = """\
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",method="get"} 1027
http_requests_total{code="500",method="get"} 3
# TYPE temperature_celsius gauge
temperature_celsius 21.5
# TYPE queue_seconds summary
queue_seconds{quantile="0.5"} NaN
queue_seconds_sum 0
queue_seconds_count 0
# TYPE limit_bytes gauge
limit_bytes{kind="soft"} +Inf
limit_bytes{kind="floor"} -Inf
"""

GOOD_OPENMETRICS = """\
# TYPE jobs counter
# HELP jobs Jobs run.
jobs_total{queue="a"} 7
jobs_created{queue="a"} 1600000000
# TYPE build info
build_info{version="1.2"} 1 1700000000.5
# EOF
"""

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def _target(name: str, **settings: object) -> ExporterTarget:
    return settings_from(
        ExporterTarget, {"name": name, "url": f"http://{name}/metrics", **settings}
    )


def _collector(handler: Handler, *targets: ExporterTarget) -> ExportersCollector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ExportersCollector(targets, client)


def _by_name(scrapes: list[ExporterScrape]) -> dict[str, ExporterScrape]:
    return {s.name: s for s in scrapes}


@pytest.fixture
def serve() -> Iterator[Callable[..., ExportersCollector]]:
    """A collector whose targets answer from a dict: name -> (status, content type, body)."""
    made: list[ExportersCollector] = []

    def build(
        answers: dict[str, tuple[int, str | None, str]], *targets: ExporterTarget
    ) -> ExportersCollector:
        async def handler(request: httpx.Request) -> httpx.Response:
            assert request.headers["accept"] == ACCEPT
            status, content_type, body = answers[request.url.host]
            if status == 0:  # a wedged exporter
                await asyncio.sleep(30)
            headers = {} if content_type is None else {"content-type": content_type}
            return httpx.Response(status, headers=headers, content=body.encode())

        collector = _collector(handler, *(targets or [_target(n) for n in answers]))
        made.append(collector)
        return collector

    yield build
    for collector in made:
        collector.close()


def test_each_target_fails_alone(serve: Callable[..., ExportersCollector]) -> None:
    collector = serve(
        {
            "text": (200, TEXT, GOOD_TEXT),
            "om": (200, OPENMETRICS, GOOD_OPENMETRICS),
            "broken": (500, TEXT, "internal error"),
            "garbage": (200, TEXT, "this is { not exposition\n"),
            "wedged": (0, TEXT, ""),
        },
        *[_target(n) for n in ("text", "om", "broken", "garbage")],
        _target("wedged", timeout_seconds=0.3),
    )
    started = time.monotonic()
    scrapes = _by_name(collector.collect())
    assert time.monotonic() - started < 2, "the wedged target held up the others"
    assert list(scrapes) == ["text", "om", "broken", "garbage", "wedged"]

    text = scrapes["text"]
    assert text.success and text.error is None and text.url == "http://text/metrics"
    assert len(text.samples) == 8
    assert text.samples[0] == ExporterSample(
        name="http_requests_total", labels={"code": "200", "method": "get"}, value=1027
    )
    om = scrapes["om"]
    assert om.success
    assert [(s.name, s.value, s.timestamp) for s in om.samples] == [
        ("jobs_total", 7, None),
        ("jobs_created", 1600000000, None),
        ("build_info", 1, 1700000000.5),
    ]
    assert not scrapes["broken"].success
    assert scrapes["broken"].error == "HTTP 500 Internal Server Error"
    garbage = scrapes["garbage"]
    assert not garbage.success and (garbage.error or "").startswith("bad exposition: line 1")
    wedged = scrapes["wedged"]
    assert not wedged.success and wedged.error == "timed out after 0.3 s"
    assert 0.3 <= wedged.duration_seconds < 1.5
    assert all(s.samples == [] for s in scrapes.values() if not s.success)
    assert all(s.duration_seconds >= 0 for s in scrapes.values())
    # The next cycle scrapes again on the same loop and client.
    assert _by_name(collector.collect())["text"].success


def test_content_type_decides_the_parser(serve: Callable[..., ExportersCollector]) -> None:
    # 0.0.4 text labelled OpenMetrics is invalid OpenMetrics (no # EOF): the header is obeyed.
    collector = serve(
        {
            "liar": (200, OPENMETRICS, GOOD_TEXT),
            "sniffed": (200, None, GOOD_OPENMETRICS),
            "plain": (200, TEXT, "up 1\n"),
        }
    )
    scrapes = _by_name(collector.collect())
    assert not scrapes["liar"].success and "bad exposition" in (scrapes["liar"].error or "")
    assert [s.name for s in scrapes["sniffed"].samples] == [
        "jobs_total",
        "jobs_created",
        "build_info",
    ]
    assert scrapes["plain"].samples == [ExporterSample(name="up", value=1)]


def test_refused_connection_is_reported() -> None:
    port = free_port()  # nothing listens there
    collector = ExportersCollector(
        [ExporterTarget(name="gone", url=f"http://127.0.0.1:{port}/metrics")]  # type: ignore[arg-type]
    )
    try:
        [scrape] = collector.collect()
    finally:
        collector.close()
    assert not scrape.success and (scrape.error or "").startswith("ConnectError")


def test_include_exclude_and_the_sample_limit(serve: Callable[..., ExportersCollector]) -> None:
    answers = {name: (200, TEXT, GOOD_TEXT) for name in ("inc", "exc", "both", "cap", "fcap")}
    collector = serve(
        answers,
        _target("inc", include="http_.*"),
        _target("exc", exclude="queue_seconds.*|limit_bytes"),
        _target("both", include="http_.*|temperature_celsius", exclude=".*celsius"),
        _target("cap", max_samples=7),
        _target("fcap", include="http_.*", max_samples=1),
    )
    scrapes = _by_name(collector.collect())
    assert {s.name for s in scrapes["inc"].samples} == {"http_requests_total"}
    assert [s.name for s in scrapes["exc"].samples] == ["http_requests_total"] * 2 + [
        "temperature_celsius"
    ]
    assert len(scrapes["both"].samples) == 2
    # The include regex is anchored: "http_" alone would not keep http_requests_total.
    assert scrapes["cap"].error == "more than max_samples=7 samples"
    assert scrapes["fcap"].error == "2 samples after filtering, more than max_samples=1"
    assert not scrapes["cap"].samples and not scrapes["fcap"].samples


def test_regexes_are_anchored(serve: Callable[..., ExportersCollector]) -> None:
    collector = serve({"a": (200, TEXT, GOOD_TEXT)}, _target("a", include="http_"))
    assert collector.collect()[0].samples == []


def _snapshot(scrapes: list[ExporterScrape]) -> Snapshot:
    return Snapshot(timestamp=T0, exporters=scrapes)


def test_nan_and_infinities_cross_json_as_strings_and_flatten_to_absent(
    serve: Callable[..., ExportersCollector],
) -> None:
    collector = serve({"text": (200, TEXT, GOOD_TEXT)})
    snapshot = _snapshot(collector.collect())
    wire = encode(snapshot)
    values = {
        (s["name"], s.get("labels", {}).get("kind")): s["value"]
        for s in json.loads(wire)["exporters"][0]["samples"]
    }
    assert values[("queue_seconds", None)] == "NaN"
    assert values[("limit_bytes", "soft")] == "+Inf"
    assert values[("limit_bytes", "floor")] == "-Inf"
    assert values[("temperature_celsius", None)] == 21.5
    back = decode_snapshot(wire)
    samples = back.exporters[0].samples if back.exporters else []
    assert math.isnan(samples[3].value) and samples[6].value == math.inf
    assert samples[7].value == -math.inf
    flat = dict(flatten_snapshot(back))
    assert flat['exporter_queue_seconds{exporter="text",quantile="0.5"}'] is None
    assert flat['exporter_limit_bytes{exporter="text",kind="soft"}'] is None
    assert flat['exporter_temperature_celsius{exporter="text"}'] == 21.5
    with pytest.raises(PayloadError, match=r"^value: Invalid enum value '12'"):
        convert({"name": "x", "value": "12"}, ExporterSample)
    with pytest.raises(PayloadError, match=r"^timestamp: "):
        convert({"name": "x", "value": 1, "timestamp": "NaN"}, ExporterSample)


def test_flatten_names_labels_and_self_metrics() -> None:
    snapshot = _snapshot(
        [
            ExporterScrape(
                name="app",
                url="http://app/metrics",
                success=True,
                duration_seconds=0.25,
                samples=[
                    ExporterSample(name="up", value=1),
                    # A scraped `exporter` label gives way to ours, as in Prometheus.
                    ExporterSample(name="jobs_total", labels={"exporter": "x", "q": "a"}, value=2),
                    ExporterSample(name="jobs_total", labels={"q": "a", "exporter": "x"}, value=9),
                ],
            ),
            ExporterScrape(
                name="db", url="http://db/metrics", success=False, duration_seconds=3, error="x"
            ),
        ]
    )
    assert flatten_snapshot(snapshot) == [
        ('exporter_scrape_success{exporter="app"}', 1.0),
        ('exporter_scrape_duration_seconds{exporter="app"}', 0.25),
        ('exporter_up{exporter="app"}', 1.0),
        ('exporter_jobs_total{exported_exporter="x",exporter="app",q="a"}', 2.0),
        ('exporter_scrape_success{exporter="db"}', 0.0),
        ('exporter_scrape_duration_seconds{exporter="db"}', 3.0),
    ]


def test_exporter_settings_are_strict(tmp_path: Path) -> None:
    config = tmp_path / "fleetscope.toml"
    config.write_text(
        "[agent]\n"
        "[[agent.exporters]]\n"
        'name = "node"\nurl = "http://127.0.0.1:9100/metrics"\ninclude = "node_.*"\n'
        "[[agent.exporters]]\n"
        'name = "app"\nurl = "http://127.0.0.1:8000/metrics"\ntimeout_seconds = "1500ms"\n'
    )
    node, app = AgentSettings.load(config).exporters
    assert node.timeout_seconds == 3 and node.include is not None and node.max_samples == 5000
    assert app.timeout_seconds == 1.5
    bad: list[tuple[dict[str, object], str]] = [
        ({"name": "a", "url": "http://a/", "scrape_interval": 1}, "scrape_interval"),
        ({"name": "a b", "url": "http://a/"}, "name"),
        ({"name": "a", "url": "not a url"}, "url"),
        ({"name": "a", "url": "http://a/", "include": "("}, "include"),
        ({"name": "a", "url": "http://a/", "max_samples": 0}, "max_samples"),
    ]
    for fields, named in bad:
        with pytest.raises(ConfigError, match=named):
            settings_from(ExporterTarget, fields)
    twice = [{"name": "a", "url": "http://a/"}, {"name": "a", "url": "http://b/"}]
    with pytest.raises(ConfigError, match="unique; repeated: a"):
        AgentSettings.load(exporters=twice)
    slow = [{"name": "a", "url": "http://a/", "timeout_seconds": 6}]
    with pytest.raises(ConfigError, match="below collector_timeout_seconds"):
        AgentSettings.load(exporters=slow)


def test_exporters_run_by_default_only_when_targets_are_configured() -> None:
    assert not REGISTRY["exporters"].enabled_by_default
    defaults = [s.name for s in select_collectors(None)]
    assert "exporters" not in defaults and {"cpu", "memory"} <= set(defaults)
    configured = select_collectors(None, configured=("exporters",))
    assert [s.name for s in configured] == [*defaults, "exporters"]
    assert [s.name for s in select_collectors(["exporters"])] == ["exporters"]


def _running(args: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    process.wait(10)
    raise AssertionError("node_exporter did not answer within 15 s")


NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


def test_scrape_the_real_node_exporter(tmp_path: Path) -> None:
    require(
        os.access(NODE_EXPORTER, os.X_OK) and shutil.which(NODE_EXPORTER) is not None,
        f"{NODE_EXPORTER} not installed (Debian package prometheus-node-exporter)",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    process = _running(
        [
            NODE_EXPORTER,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.loadavg",
            "--collector.meminfo",
            "--collector.cpu",
        ],
        port,
        tmp_path / "node_exporter.log",
    )
    try:
        context = CollectorContext(
            ProcFS(Path("/proc")),
            SysFS(Path("/sys")),
            Path("/"),
            settings={
                "exporters": ExportersSettings(
                    targets=(ExporterTarget(name="node", url=url, max_samples=100_000),)  # type: ignore[arg-type]
                )
            },
        )
        runner = CollectorRunner([REGISTRY["exporters"]], context)
        try:
            snapshot = runner.collect()
        finally:
            runner.close()
        direct = httpx.get(url, headers={"Accept": ACCEPT})
        expected = parse_exposition(direct.content, direct.headers.get("content-type"))
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert [s.success for s in snapshot.collectors] == [True]
    assert snapshot.exporters is not None
    [scrape] = snapshot.exporters
    assert scrape.success, scrape.error
    assert len(scrape.samples) == len(expected) > 50
    names = {s.name for s in scrape.samples}
    assert {"node_load1", "node_memory_MemTotal_bytes", "node_cpu_seconds_total"} <= names
    assert names == {s.name for s in expected}
    flat = dict(flatten_snapshot(snapshot))
    assert flat['exporter_scrape_success{exporter="node"}'] == 1.0
    assert flat['exporter_node_load1{exporter="node"}'] is not None


def test_ingest_digest_and_query_carry_exporter_series(live: LiveServer) -> None:
    snapshot = Snapshot(
        timestamp=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
        exporters=[
            ExporterScrape(
                name="app",
                url="http://app/metrics",
                success=True,
                duration_seconds=0.01,
                samples=[
                    ExporterSample(name="jobs_total", labels={"q": "a"}, value=5),
                    ExporterSample(name="lag_seconds", value=math.nan),
                    ExporterSample(name="limit", value=math.inf),
                ],
            )
        ],
    )
    body = Payload(
        schema_version=1,
        batch_id="6d3c1f0e-2f0b-4b4e-9d7c-1a2b3c4d5e6f",  # type: ignore[arg-type]
        agent=AgentInfo(version="test"),
        host=HostIdentity(machine_id="m-exp", hostname="exp-host"),
        snapshots=[snapshot],
    )
    response = live.client.post(
        "/api/v1/ingest", content=encode(body), headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    live.wait_digested()
    report = live.client.get(
        "/api/v1/reports/metrics/exp-host",
        params={
            "start_time": snapshot.timestamp.isoformat(),
            "metrics": "exporter_jobs_total,exporter_scrape_success,exporter_limit",
        },
        headers=live.user_headers(),
    )
    assert report.status_code == 200, report.text
    points = {
        (s["metric"], json.dumps(s.get("labels", {}), sort_keys=True)): s["points"]
        for s in report.json()["series"]
    }
    at = snapshot.timestamp.timestamp()
    assert points == {
        ("exporter_jobs_total", '{"exporter": "app", "q": "a"}'): [[at, 5.0]],
        ("exporter_scrape_success", '{"exporter": "app"}'): [[at, 1.0]],
        # +Inf is stored as absent: the API answers JSON, which has no infinities.
        ("exporter_limit", '{"exporter": "app"}'): [[at, None]],
    }
