"""Issue 14 item 12 end to end, with Debian's real prometheus-process-exporter on 127.0.0.1:
(1) an agent configured with `[[agent.exporters]] kind = "process-exporter"` scrapes it, and
(2) its exposition is pushed to POST /api/v1/ingest/prometheus?kind=process-exporter; in both
cases its groups appear in GET /api/v1/hosts/{id}/processes with the CPU our probes burnt and
the memory they hold, as the agent's built-in grouping would show them.
"""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.registry import select_collectors
from fleetscope.agent.runner import CollectorRunner
from fleetscope.agent.settings import AgentSettings
from fleetscope.config.settings import settings_from
from fleetscope.model.codec import encode
from fleetscope.model.payload import AgentInfo, HostIdentity, Payload, Snapshot
from tests.agent.test_process_groups_live import PROBE, exporter, probes  # noqa: F401 (fixtures)
from tests.server import LiveServer

pytestmark = pytest.mark.slow

PROBE_BYTES = 8 * 1024 * 1024  # each Python probe touches this much


def _burn(probe_processes: list[subprocess.Popen[bytes]]) -> None:
    """Both Python probes spend 0.3 s of CPU each, and answer when done."""
    for proc in probe_processes[:2]:
        assert proc.stdin is not None
        proc.stdin.write(b"burn\n")
        proc.stdin.flush()
    for proc in probe_processes[:2]:
        assert proc.stdout is not None and proc.stdout.readline() == b"done\n"


def _probe_group(live: LiveServer, host: str, start: datetime, end: datetime) -> dict[str, Any]:
    headers = live.user_headers()
    hosts = live.client.get("/api/v1/hosts", headers=headers).json()
    host_id = next(h["id"] for h in hosts if h["name"] == host)
    response = live.client.get(
        f"/api/v1/hosts/{host_id}/processes",
        params={"start_time": start.isoformat(), "end_time": end.isoformat(), "limit": "100"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    groups = {g["name"]: g for g in response.json()["groups"]}
    assert PROBE in groups, sorted(groups)
    group: dict[str, Any] = groups[PROBE]
    return group


def _assert_plausible(group: dict[str, Any]) -> None:
    # Two probes burnt 0.3 s each between the first and last scrape; tick accounting (10 ms)
    # and the probes' own start-up keep it near that.
    assert 0.5 <= group["cpu_seconds"] <= 1.5, group
    assert group["max_num_procs"] == 3
    # Two Python interpreters with 8 MiB touched each, and a sleep.
    assert 2 * PROBE_BYTES <= group["memory_max_bytes"] <= 512 * 1024 * 1024, group
    assert group["samples"] >= 2


def test_an_agent_scraping_process_exporter_fills_the_process_groups(
    probes: list[subprocess.Popen[bytes]],  # noqa: F811
    exporter: str,  # noqa: F811
    live: LiveServer,
    tmp_path: Path,
) -> None:
    settings = settings_from(
        AgentSettings,
        {
            "server_url": "http://127.0.0.1:1",
            "exporters": [{"name": "procs", "url": exporter, "kind": "process-exporter"}],
        },
    )
    context = CollectorContext(
        procfs=ProcFS("/proc"),
        sysfs=SysFS("/sys"),
        rootfs=Path("/"),
        settings=settings.collector_settings(),
    )
    # The agent's default set with its exporter target, but its own process scan off, so
    # that the groups can only have come from process-exporter.
    specs = [s for s in select_collectors(None, {"exporters"}) if s.name != "processes"]
    assert "exporters" in [s.name for s in specs]
    runner = CollectorRunner(specs, context)
    try:
        first = runner.collect()
        _burn(probes)
        second = runner.collect()
    finally:
        runner.close()
    for snapshot in (first, second):
        assert snapshot.exporters is not None and snapshot.exporters[0].success
        assert snapshot.exporters[0].kind == "process-exporter"
        assert snapshot.processes is None
    _post_payload(live, [first, second])
    group = _probe_group(live, "pe-agent", first.timestamp - timedelta(seconds=1), second.timestamp)
    _assert_plausible(group)


def _post_payload(live: LiveServer, snapshots: list[Snapshot]) -> None:
    payload = Payload(
        schema_version=1,
        batch_id=uuid.uuid4(),
        agent=AgentInfo(version="test"),
        host=HostIdentity(machine_id="pe-agent-machine", hostname="pe-agent"),
        snapshots=snapshots,
    )
    response = live.client.post(
        "/api/v1/ingest", content=encode(payload), headers=live.agent_headers()
    )
    assert response.status_code == 202, response.text
    live.wait_digested()


def test_a_pushed_process_exporter_exposition_fills_the_process_groups(
    probes: list[subprocess.Popen[bytes]],  # noqa: F811
    exporter: str,  # noqa: F811
    live: LiveServer,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    times = [start, start + timedelta(seconds=10)]
    for i, at in enumerate(times):
        if i:
            _burn(probes)
        scraped = httpx.get(exporter, timeout=10)
        response = live.client.post(
            "/api/v1/ingest/prometheus",
            params={
                "device_name": "pe-push",
                "timestamp": str(at.timestamp()),
                "kind": "process-exporter",
            },
            content=scraped.content,
            headers={
                "Authorization": f"Bearer {live.agent_key}",
                "Content-Type": scraped.headers["content-type"],
            },
        )
        assert response.status_code == 202, response.text
    live.wait_digested()
    _assert_plausible(_probe_group(live, "pe-push", times[0], times[1]))
    bad = live.client.post(
        "/api/v1/ingest/prometheus",
        params={"device_name": "pe-push", "kind": "node-exporter"},
        content=b"x 1\n",
        headers={"Authorization": f"Bearer {live.agent_key}", "Content-Type": "text/plain"},
    )
    assert bad.status_code == 422 and "kind" in bad.text
