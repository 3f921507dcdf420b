"""Integer path and query parameters out of range answer 404/422, never 500 (a host id past
the 64-bit range once raised OverflowError in the database driver and reset the connection)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import LiveServer, start_server

HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/hosts/{HUGE}",
        f"/api/v1/hosts/-{HUGE}",
        f"/api/v1/hosts/{HUGE}/processes",
        f"/api/v1/hosts/{HUGE}/inventory/history",
        f"/api/v1/hosts/1/inventory/history?limit={HUGE}",
        f"/api/v1/hosts/1/processes?limit={HUGE}",
        f"/api/v1/reports/summary?time_range={HUGE}",
        "/api/v1/reports/summary?time_range=nan",
        f"/hosts/{HUGE}",
    ],
)
def test_out_of_range_integers_are_refused(live: LiveServer, path: str) -> None:
    response = live.client.get(path, headers=live.user_headers())
    assert response.status_code in {400, 404, 422}, (path, response.status_code, response.text)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    yield from start_server(tmp_path / "data", database_url=database_url)


def test_ids_end_where_the_id_columns_do_on_both_databases(server: LiveServer) -> None:
    """Ids are INTEGER columns, 32-bit on PostgreSQL: one past that is a 422 in both
    databases (it was PostgreSQL's "integer out of range", a 500), the last one a 404."""
    user = server.user_headers()
    last, past = 2**31 - 1, 2**31
    for path in ("/api/v1/hosts/{}", "/api/v1/collectors/{}/files", "/api/v1/alerts/rules/{}"):
        assert server.client.get(path.format(last), headers=user).status_code == 404, path
        assert server.client.get(path.format(past), headers=user).status_code == 422, path
    for params in ({"host_id": last}, {"host_id": past}):
        answer = server.client.get("/api/v1/analyses", params=params, headers=user)
        assert answer.status_code == (200 if params["host_id"] == last else 422), answer.text
    for file_id, status in ((last, 404), (past, 422)):
        started = server.client.post(
            "/api/v1/analyses", json={"collection_file": file_id}, headers=user
        )
        assert started.status_code == status, started.text
    made = server.client.post(
        "/api/v1/collectors", json={"machine": "m", "cores": past}, headers=user
    )
    assert made.status_code == 422 and "cores" in made.text
    big = server.client.post(
        "/api/v1/collectors", json={"machine": "m", "memory_bytes": 2**40}, headers=user
    )
    assert big.status_code == 201, big.text


def test_an_alert_rule_repeat_past_a_year_is_refused_not_a_500(server: LiveServer) -> None:
    """The API fuzzer sent repeat_seconds = 52458013263496820: the driver's OverflowError."""
    user = server.user_headers()
    rule = {"name": "cpu", "signal": "cpu_percent", "op": ">", "threshold": 90}
    for repeat, status in ((10**17, 422), (366 * 86400 + 1, 422), (366 * 86400, 201)):
        answer = server.client.post(
            "/api/v1/alerts/rules", json={**rule, "repeat_seconds": repeat}, headers=user
        )
        assert answer.status_code == status, (repeat, answer.text)
