"""/api/v1/analyses on SQLite and PostgreSQL: an uploaded collection file is analysed by itself,
a host over a range on request; state and progress while it runs, status, fit and findings
when done; list filters; HTML and PDF downloads; errors that name the field."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fleetscope.store.tables import analyses, collections
from tests.server import LiveServer, start_server
from tests.synthetic_host import Scenario, const, snapshots, write_collection

COLLECTIONS = "/api/v1/collections"
ANALYSES = "/api/v1/analyses"


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def _upload(live: LiveServer, tmp_path: Path, scenario: Scenario, start: datetime) -> None:
    path = write_collection(tmp_path / "c.jsonl", snapshots(scenario, 240, 10.0, start), "web-4")
    response = live.client.post(
        COLLECTIONS,
        files={"file": ("c.jsonl", path.read_bytes(), "application/x-ndjson")},
        headers={"Authorization": f"Bearer {live.agent_key}"},
    )
    assert response.status_code == 202, response.text
    live.wait_digested()


def _wait_done(live: LiveServer, analysis_id: int, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    seen_states = set()
    while True:
        body: dict[str, Any] = live.client.get(f"{ANALYSES}/{analysis_id}", headers=headers).json()
        seen_states.add(body["state"])
        assert 0 <= body["progress"] <= 100
        if body["state"] in {"done", "failed"}:
            return body
        assert time.monotonic() < deadline, f"analysis still {body['state']}: {seen_states}"
        time.sleep(0.1)


def test_a_host_range_is_analysed_and_its_reports_download(
    live: LiveServer, tmp_path: Path
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    runner = live.server.app.state.analysis_runner
    runner.analyse_uploads = False  # this test starts its analysis itself
    _upload(live, tmp_path, Scenario(busy=const(0.97), load_per_cpu=const(3.0)), start)
    user = live.user_headers()
    began = time.monotonic()
    answer = live.client.post(
        ANALYSES,
        json={"host": "web-4", "start": start.isoformat(), "end": str(start.timestamp() + 2400)},
        headers=user,
    )
    assert answer.status_code == 202, answer.text
    assert time.monotonic() - began < 2  # answered at once: the analysis runs in its thread
    analysis_id = answer.json()["id"]
    body = _wait_done(live, analysis_id, user)
    assert body["state"] == "done", body.get("error")
    assert (body["status"], body["progress"], body["snapshots"]) == ("danger", 100, 240)
    assert body["fit"] < 50
    assert body["created_by"] is not None
    checks = {(f["check"], f["severity"]) for f in body["findings"]}
    assert ("cpu.utilization", "critical") in checks
    html = live.client.get(body["report_html"], headers=user)
    assert html.status_code == 200
    assert "Performance analysis: web-4" in html.text
    pdf = live.client.get(body["report_pdf"], headers=user)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")

    listed = live.client.get(ANALYSES, params={"status": "danger", "host": "web-4"}, headers=user)
    assert [a["id"] for a in listed.json()] == [analysis_id]
    assert "findings" not in listed.json()[0] or listed.json()[0]["findings"] is None
    assert live.client.get(ANALYSES, params={"status": "success"}, headers=user).json() == []
    assert live.client.get(ANALYSES, params={"host": "nope"}, headers=user).json() == []


def test_an_uploaded_collection_is_analysed_automatically(live: LiveServer, tmp_path: Path) -> None:
    runner = live.server.app.state.analysis_runner
    runner.poll_seconds = 0.2
    runner.submit(0)  # wakes the thread so the shorter poll takes effect (no row 0: a no-op)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    _upload(live, tmp_path, Scenario(), start)
    user = live.user_headers()
    deadline = time.monotonic() + 30
    while not (listed := live.client.get(ANALYSES, headers=user).json()):
        assert time.monotonic() < deadline, "the upload was not analysed"
        time.sleep(0.1)
    (row,) = listed
    with live.server.engine.connect() as conn:
        collection_id = conn.execute(select(collections.c.id)).scalar_one()
    assert row["collection_file"] == collection_id
    assert row["created_by"] is None
    body = _wait_done(live, row["id"], user)
    assert (body["status"], body["state"]) == ("success", "done")
    assert body["fit"] >= 90
    # asked again by id: a second analysis of the same file
    again = live.client.post(ANALYSES, json={"collection_file": collection_id}, headers=user)
    assert again.status_code == 202
    with live.server.engine.connect() as conn:
        count = len(conn.execute(select(analyses.c.id)).all())
    assert count == 2


def test_errors_name_the_field(live: LiveServer) -> None:
    assert live.client.get(ANALYSES).status_code == 401  # before logging in sets the cookie
    user = live.user_headers()
    cases = [
        ({"host": "web-4"}, 422, "host needs start and end"),
        ({"host": "a", "collection_file": 1}, 422, "give either"),
        ({"host": "a", "start": "yesterday", "end": "1"}, 422, "start='yesterday'"),
        ({"host": "a", "start": "100", "end": "50"}, 422, "end: must be after start"),
        ({"host": "ghost", "start": "1", "end": "50"}, 404, "host: no host named 'ghost'"),
        ({"collection_file": 999}, 404, "collection_file: no collection file with id 999"),
    ]
    for body, code, text in cases:
        response = live.client.post(ANALYSES, json=body, headers=user)
        assert response.status_code == code, (body, response.text)
        assert text in str(response.json()["detail"]), (body, response.text)
    assert live.client.get(f"{ANALYSES}/5", headers=user).status_code == 404
    assert live.client.get(f"{ANALYSES}/5/report.pdf", headers=user).status_code == 404
    bad = live.client.get(ANALYSES, params={"status": "red"}, headers=user)
    assert bad.status_code == 422
    assert "status: one of" in bad.text


class _BrokenMetrics:
    def host_series(self, *_args: object) -> list[object]:
        raise RuntimeError("boom: the store is gone")


def test_a_failing_analysis_is_recorded_and_a_stopping_runner_leaves_it_for_later(
    live: LiveServer, tmp_path: Path
) -> None:
    from fleetscope.query.analyses import AnalysisQueries  # noqa: PLC0415
    from fleetscope.report.runner import AnalysisRunner  # noqa: PLC0415

    live.server.app.state.analysis_runner.analyse_uploads = False
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    _upload(live, tmp_path, Scenario(), start)
    queries = AnalysisQueries(live.server.engine)
    host_id = queries.host_id(1, "web-4")
    now = round(time.time() * 1000)
    broken = AnalysisRunner(
        queries, _BrokenMetrics(), live.server.app.state.analysis_runner.inventory
    )  # type: ignore[arg-type]
    failing = queries.create(1, host_id, start_ms=0, end_ms=now, now_ms=now)
    broken.run_one(failing)
    row = queries.get(1, failing)
    assert (row.state, row.error) == ("failed", "RuntimeError: boom: the store is gone")
    # A runner asked to stop leaves its row unfinished, to be run again at the next start.
    interrupted = queries.create(1, host_id, start_ms=0, end_ms=now, now_ms=now)
    broken._stopping.set()
    broken.run_one(interrupted)
    assert queries.get(1, interrupted).state == "queued"
    assert interrupted in queries.pending()
