"""/api/v1/users: a tenant's admins list, create, change the role of, disable and reset the
password of its users. The superuser also creates the first admin of another tenant
(`tenant_id` in the body); otherwise everything is within the caller's tenant, and a user id
of another tenant is a 404.

An admin changes neither their own role nor their own disabled flag here, and does not reset
their own password without the current one (/api/v1/me/password): a stolen session must not
take over the account, and no admin locks themselves out by a slip.

No `from __future__ import annotations`: FastAPI resolves these annotations at run time."""

from fastapi import APIRouter, HTTPException, Request

from fleetscope.model.auth import Principal, Role
from fleetscope.query.accounts import AccountService, LastAdminError, NameTakenError
from fleetscope.web.account_schemas import PasswordReset, UserIn, UserOut, UserPatch
from fleetscope.web.deps import Accounts, CurrentUser, PathId, client_address, read_router, require
from fleetscope.web.services import ReadServices


def _target_tenant(user: Principal, accounts: AccountService, body: UserIn) -> int:
    """The tenant the new user joins: the caller's, or for the superuser one without an
    enabled admin yet (its first admin)."""
    if body.tenant_id is None or body.tenant_id == user.tenant_id:
        return user.tenant_id
    if not user.may_manage_tenants() or accounts.tenant(body.tenant_id) is None:
        raise HTTPException(404, f"no tenant with id {body.tenant_id}")
    if body.role is not Role.ADMIN:
        raise HTTPException(422, "the first user made for another tenant is its admin")
    if accounts.has_enabled_admin(body.tenant_id):
        raise HTTPException(409, "that tenant has an admin already: its admins add users")
    return body.tenant_id


def build_users_router(services: ReadServices) -> APIRouter:
    router = read_router(services, prefix="/users", tags=["accounts"])

    @router.get("", summary="The users of the caller's tenant (admin)")
    def list_users(user: CurrentUser, accounts: Accounts) -> list[UserOut]:
        require(user.may_manage_users(), "admins only")
        return [UserOut.of(u) for u in accounts.users(user.tenant_id)]

    @router.post("", status_code=201, summary="Create a user (admin; superuser: a first admin)")
    def create_user(
        body: UserIn, user: CurrentUser, accounts: Accounts, request: Request
    ) -> UserOut:
        require(user.may_manage_users(), "admins only")
        tenant_id = _target_tenant(user, accounts, body)
        try:
            made = accounts.create_user(
                user,
                tenant_id,
                body.username,
                body.password,
                body.role,
                address=client_address(request),
            )
        except NameTakenError as exc:
            raise HTTPException(409, str(exc)) from exc
        return UserOut.of(made)

    @router.get("/{user_id}", summary="One user of the caller's tenant (admin)")
    def get_user(user_id: PathId, user: CurrentUser, accounts: Accounts) -> UserOut:
        require(user.may_manage_users(), "admins only")
        found = accounts.user(user.tenant_id, user_id)
        if found is None:
            raise HTTPException(404, f"no user with id {user_id}")
        return UserOut.of(found)

    @router.patch("/{user_id}", summary="Change a user's role, disable or enable them (admin)")
    def update_user(
        user_id: PathId, body: UserPatch, user: CurrentUser, accounts: Accounts, request: Request
    ) -> UserOut:
        require(user.may_manage_users(), "admins only")
        if user_id == user.user_id and (body.role is not None or body.disabled is not None):
            raise HTTPException(409, "another admin changes your role or disables you")
        try:
            updated = accounts.update_user(
                user,
                user.tenant_id,
                user_id,
                role=body.role,
                disabled=body.disabled,
                address=client_address(request),
            )
        except LastAdminError as exc:
            raise HTTPException(409, str(exc)) from exc
        if updated is None:
            raise HTTPException(404, f"no user with id {user_id}")
        return UserOut.of(updated)

    @router.post(
        "/{user_id}/password",
        status_code=204,
        summary="Set a user's password (admin); every session of theirs ends",
    )
    def reset_password(
        user_id: PathId,
        body: PasswordReset,
        user: CurrentUser,
        accounts: Accounts,
        request: Request,
    ) -> None:
        require(user.may_manage_users(), "admins only")
        if user_id == user.user_id:
            raise HTTPException(409, "change your own password with POST /api/v1/me/password")
        if not accounts.reset_password(
            user, user.tenant_id, user_id, body.password, client_address(request)
        ):
            raise HTTPException(404, f"no user with id {user_id}")

    return router
