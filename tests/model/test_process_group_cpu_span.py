"""A process group's CPU% is its CPU time over the span its own samples cover, not over the
requested range (issue 14, item 5): 0.47 CPU-seconds over one minute of data is 0.78 % of a
core, whether the range asked is 1 minute or 1 hour."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from msgspec.structs import replace

from fleetscope.model.payload import ProcessesSection
from tests.helpers import T0, payload, payload_json
from tests.query.test_read_reports import group
from tests.server import LiveServer, start_server

CPU = [0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.47]  # 7 samples, 10 s apart: one minute


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def test_cpu_percent_divides_by_the_span_the_groups_data_covers(live: LiveServer) -> None:
    p = payload(len(CPU), start=T0)
    shots = [
        replace(s, processes=ProcessesSection(count=1, groups=[group("app", CPU[i], 1e8)]))
        for i, s in enumerate(p.snapshots)
    ]
    response = live.client.post(
        "/api/v1/ingest",
        content=payload_json(replace(p, snapshots=shots)),
        headers=live.agent_headers(),
    )
    assert response.status_code == 202, response.text
    live.wait_digested()
    headers = live.user_headers()
    hid = live.client.get("/api/v1/hosts", headers=headers).json()[0]["id"]
    for hours in (1, 6):
        got = live.client.get(
            f"/api/v1/hosts/{hid}/processes",
            params={
                "start_time": (T0 - timedelta(minutes=10)).isoformat(),
                "end_time": (T0 + timedelta(hours=hours)).isoformat(),
            },
            headers=headers,
        )
        assert got.status_code == 200, got.text
        app_group = got.json()["groups"][0]
        assert app_group["cpu_seconds"] == pytest.approx(0.47)
        assert app_group["cpu_percent"] == pytest.approx(100 * 0.47 / 60)
        assert app_group["covered_seconds"] == 60
        assert app_group["cpu_cores"] == pytest.approx(0.47 / 60)
