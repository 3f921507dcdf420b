"""GET /api/v1/hosts (the tenant's hosts), /api/v1/hosts/{id} (one host's latest values by
section, status and inventory) and /api/v1/hosts/{id}/inventory/history."""

from fastapi import APIRouter, HTTPException

from fleetscope.web.deps import CurrentUser, HostId, RevisionLimit, known_host, read_router
from fleetscope.web.schemas import (
    HeadlineOut,
    HostDetailOut,
    HostOut,
    InventoryChangeOut,
    InventoryOut,
    InventoryRevisionOut,
    SectionOut,
)
from fleetscope.web.services import ReadServices


def build_hosts_router(services: ReadServices) -> APIRouter:
    router = read_router(services)

    @router.get("/hosts/{host_id}", tags=["hosts"], response_model_exclude_unset=True)
    def host_detail(host_id: HostId, user: CurrentUser) -> HostDetailOut:
        found = services.fleet.host(user.tenant_id, host_id, services.now_ms())
        if found is None:
            raise HTTPException(404, f"no host with id {host_id}")
        latest = services.inventory.latest(user.tenant_id, host_id)
        detail = HostDetailOut(
            id=found.id,
            name=found.name,
            machine_id=found.machine_id,
            agent_version=found.agent_version,
            first_seen=found.first_seen,
            last_seen=found.last_seen,
            status=found.status,
            interval_seconds=found.interval_seconds,
            sampled_at=found.sampled_at,
            sections={
                name: SectionOut(values=s.values, items=s.items)
                for name, s in found.sections.items()
            },
            latest=None if found.latest is None else HeadlineOut.of(found.latest),
        )
        if latest is not None:  # set only when stored: absent from the JSON otherwise
            detail.inventory = InventoryOut(
                updated_at=latest.updated_at,
                content_sha256=latest.content_sha256,
                audit=latest.audit,
            )
        return detail

    @router.get(
        "/hosts/{host_id}/inventory/history",
        tags=["hosts"],
        summary="What changed in the host's inventory, and when; newest first",
    )
    def inventory_history(
        host_id: HostId, user: CurrentUser, limit: RevisionLimit = 100
    ) -> list[InventoryRevisionOut]:
        known_host(services, user.tenant_id, host_id)
        return [
            InventoryRevisionOut(
                at=r.at,
                content_sha256=r.content_sha256,
                previous_sha256=r.previous_sha256,
                changes=[
                    InventoryChangeOut(
                        path=c.path, old=c.old, new=c.new, values_omitted=not c.values_kept
                    )
                    for c in r.changes
                ],
            )
            for r in services.inventory.history(user.tenant_id, host_id, limit)
        ]

    @router.get("/hosts", tags=["hosts"])
    def list_hosts(user: CurrentUser) -> list[HostOut]:
        return [
            HostOut.model_validate(h, from_attributes=True)
            for h in services.hosts.list(user.tenant_id)
        ]

    return router
