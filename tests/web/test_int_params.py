"""Integer path and query parameters out of range answer 404/422, never 500 (a host id past
the 64-bit range once raised OverflowError in the database driver and reset the connection)."""

from __future__ import annotations

import pytest

from tests.server import LiveServer

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
