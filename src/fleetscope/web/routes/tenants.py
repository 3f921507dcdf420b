"""/api/v1/tenants: the server-wide superuser lists, creates, renames, deactivates and
reactivates tenants. A deactivated tenant's logins and keys are refused, its data kept.

No `from __future__ import annotations`: FastAPI resolves these annotations at run time."""

from fastapi import APIRouter, HTTPException, Request

from fleetscope.query.accounts import NameTakenError
from fleetscope.web.account_schemas import TenantIn, TenantOut, TenantPatch
from fleetscope.web.deps import Accounts, CurrentUser, PathId, client_address, read_router, require
from fleetscope.web.services import ReadServices


def build_tenants_router(services: ReadServices) -> APIRouter:
    router = read_router(services, prefix="/tenants", tags=["accounts"])

    @router.get("", summary="Every tenant (superuser)")
    def list_tenants(user: CurrentUser, accounts: Accounts) -> list[TenantOut]:
        require(user.may_manage_tenants(), "only the superuser manages tenants")
        return [TenantOut.of(t) for t in accounts.tenants()]

    @router.post("", status_code=201, summary="Create a tenant (superuser)")
    def create_tenant(
        body: TenantIn, user: CurrentUser, accounts: Accounts, request: Request
    ) -> TenantOut:
        require(user.may_manage_tenants(), "only the superuser manages tenants")
        try:
            made = accounts.create_tenant(user, body.name, client_address(request))
        except NameTakenError as exc:
            raise HTTPException(409, str(exc)) from exc
        return TenantOut.of(made)

    @router.get("/{tenant_id}", summary="One tenant (superuser)")
    def get_tenant(tenant_id: PathId, user: CurrentUser, accounts: Accounts) -> TenantOut:
        require(user.may_manage_tenants(), "only the superuser manages tenants")
        found = accounts.tenant(tenant_id)
        if found is None:
            raise HTTPException(404, f"no tenant with id {tenant_id}")
        return TenantOut.of(found)

    @router.patch("/{tenant_id}", summary="Rename, deactivate or reactivate a tenant (superuser)")
    def update_tenant(
        tenant_id: PathId,
        body: TenantPatch,
        user: CurrentUser,
        accounts: Accounts,
        request: Request,
    ) -> TenantOut:
        require(user.may_manage_tenants(), "only the superuser manages tenants")
        if body.active is False and tenant_id == user.tenant_id:
            # It would end the superuser's own session and refuse their next login.
            raise HTTPException(409, "the superuser's own tenant cannot be deactivated")
        try:
            updated = accounts.update_tenant(
                user,
                tenant_id,
                name=body.name,
                active=body.active,
                address=client_address(request),
            )
        except NameTakenError as exc:
            raise HTTPException(409, str(exc)) from exc
        if updated is None:
            raise HTTPException(404, f"no tenant with id {tenant_id}")
        return TenantOut.of(updated)

    return router
