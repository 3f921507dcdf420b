"""/api/v1/audit: the audit log of the caller's tenant for its admins, newest first, paged by
before_id and filtered by action and actor. The superuser may name another tenant.

No `from __future__ import annotations`: FastAPI resolves these annotations at run time."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from fleetscope.model.auth import AuditAction
from fleetscope.web.account_schemas import AuditEntryOut, AuditPage
from fleetscope.web.deps import MAX_ID, Accounts, CurrentUser, read_router, require
from fleetscope.web.services import ReadServices


def build_audit_router(services: ReadServices) -> APIRouter:
    router = read_router(services, prefix="/audit", tags=["accounts"])

    @router.get("", summary="The tenant's audit log, newest first (admin)")
    def audit_log(  # noqa: PLR0917 (FastAPI passes query parameters by name anyway)
        user: CurrentUser,
        accounts: Accounts,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        action: AuditAction | None = None,
        actor: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        tenant_id: Annotated[
            int | None, Query(ge=1, le=MAX_ID, description="superuser: another tenant's")
        ] = None,
    ) -> AuditPage:
        require(user.may_read_audit(), "admins only")
        tenant = user.tenant_id if tenant_id is None else tenant_id
        if not user.may_access_tenant(tenant) or accounts.tenant(tenant) is None:
            raise HTTPException(404, f"no tenant with id {tenant}")
        entries = accounts.audit_entries(
            tenant, limit=limit, before_id=before_id, action=action, actor=actor
        )
        return AuditPage(
            entries=[AuditEntryOut.of(e) for e in entries],
            next_before_id=entries[-1].id if len(entries) == limit else None,
        )

    return router
