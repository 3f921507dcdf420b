"""/api/v1/me: who the caller is (user or read key, role, tenant, superuser), and a user's
change of their own password, which ends their other sessions.

No `from __future__ import annotations`: FastAPI resolves these annotations at run time."""

from fastapi import APIRouter, HTTPException, Request

from fleetscope.web.account_schemas import MeOut, PasswordChange
from fleetscope.web.deps import Accounts, CurrentUser, client_address, read_router, require
from fleetscope.web.services import ReadServices


def build_me_router(services: ReadServices) -> APIRouter:
    router = read_router(services, prefix="/me", tags=["accounts"])

    @router.get("", summary="The caller: user or read key, role, tenant")
    def me(user: CurrentUser, accounts: Accounts) -> MeOut:
        tenant = accounts.tenant(user.tenant_id)
        return MeOut(
            kind="user" if user.is_user else "key",
            name=user.subject,
            user_id=user.user_id,
            role=user.effective_role,
            scope=user.effective_scope,
            superuser=user.superuser,
            tenant_id=user.tenant_id,
            tenant_name="" if tenant is None else tenant.name,
        )

    @router.post(
        "/password",
        status_code=204,
        summary="Change one's own password; the caller's other sessions end",
    )
    def change_password(
        body: PasswordChange, user: CurrentUser, accounts: Accounts, request: Request
    ) -> None:
        require(user.may_change_password(), "an API key has no password")
        found = services.session(request)
        address = client_address(request)
        wait = services.auth.check_password_attempt(user.subject, address)
        if wait > 0:
            raise HTTPException(
                429, "too many wrong passwords: wait", headers={"Retry-After": str(wait)}
            )
        token = "" if found is None else found[1]
        if not accounts.change_own_password(
            user, token, body.current_password, body.new_password, address
        ):
            services.auth.record_password_failure(user.subject, address)
            raise HTTPException(400, "current_password is wrong")

    return router
