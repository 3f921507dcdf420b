"""GET /api/v1/fleet (every host: status, latest values, sparklines) and
/api/v1/reports/summary (the fleet over a range: counts, averages, the worst hosts, devices)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from fleetscope.query.devices import device_summaries
from fleetscope.web.deps import CurrentUser, read_router
from fleetscope.web.devices import DeviceSummaryOut
from fleetscope.web.fleetjson import FleetJson
from fleetscope.web.schemas import FleetHostOut, HeadlineOut, HostAverageOut, SummaryOut
from fleetscope.web.services import ReadServices


def build_fleet_router(services: ReadServices) -> APIRouter:
    router = read_router(services)
    fleet_json = FleetJson()

    @router.get(
        "/fleet",
        tags=["hosts"],
        summary="Every host: status, latest values, sparklines",
        response_model=list[FleetHostOut],
    )
    def fleet(user: CurrentUser) -> Response:
        # Written by FleetJson, not through FleetHostOut models: see web/fleetjson.py.
        found = services.fleet.overview(user.tenant_id, services.now_ms())
        return Response(fleet_json.render(found), media_type="application/json")

    @router.get("/reports/summary", tags=["reports"])
    def summary(
        user: CurrentUser,
        time_range: Annotated[
            float, Query(gt=0, le=24 * 366, description="hours back from now")
        ] = 24,
    ) -> SummaryOut:
        now = services.now_ms()
        found = services.fleet.summary(
            user.tenant_id, start := now - round(time_range * 3_600_000), now, now
        )
        return SummaryOut(
            start_time=found.start,
            end_time=found.end,
            hosts=found.counts,
            averages=HeadlineOut.of(found.averages),
            worst={
                metric: [
                    HostAverageOut(
                        id=h.id, name=h.name, status=h.status, averages=HeadlineOut.of(h.averages)
                    )
                    for h in hosts
                ]
                for metric, hosts in found.worst.items()
            },
            devices=[
                DeviceSummaryOut.of(d)
                for d in device_summaries(services.metrics, user.tenant_id, start, now)
            ],
        )

    return router
