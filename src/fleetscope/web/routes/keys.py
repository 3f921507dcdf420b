"""/api/v1/keys: a tenant's API keys, for its admins. A key is shown once, in the answer that
creates it; lists show its prefix, scope, creator, times and bound host, never the key.
Revoking is immediate for read keys and takes up to ingest's key cache lifetime for ingest
keys (cli/wiring.py KEY_CACHE_SECONDS; docs/accounts.md).

No `from __future__ import annotations`: FastAPI resolves these annotations at run time."""

from fastapi import APIRouter, HTTPException, Request

from fleetscope.model.auth import Scope
from fleetscope.web.account_schemas import KeyIn, KeyOut, NewKeyOut
from fleetscope.web.deps import Accounts, CurrentUser, PathId, client_address, read_router, require
from fleetscope.web.services import ReadServices


def build_keys_router(services: ReadServices) -> APIRouter:
    router = read_router(services, prefix="/keys", tags=["accounts"])

    @router.get("", summary="The tenant's API keys, revoked ones too, without the keys (admin)")
    def list_keys(user: CurrentUser, accounts: Accounts) -> list[KeyOut]:
        require(user.may_manage_keys(), "admins only")
        return [KeyOut.of(k) for k in accounts.keys(user.tenant_id)]

    @router.post("", status_code=201, summary="Create a key; the answer is the only one with it")
    def create_key(
        body: KeyIn, user: CurrentUser, accounts: Accounts, request: Request
    ) -> NewKeyOut:
        require(user.may_manage_keys(), "admins only")
        if body.machine_id is not None and body.scope is not Scope.INGEST:
            raise HTTPException(
                422, "machine_id binds an ingest key to a host; a read key reads all"
            )
        expires_ms = None
        if body.expires_at is not None:
            expires_ms = round(body.expires_at.timestamp() * 1000)
            if expires_ms <= services.now_ms():
                raise HTTPException(422, "expires_at is in the past")
        made = accounts.create_key(
            user,
            body.name,
            body.scope,
            expires_ms=expires_ms,
            bound_machine_id=body.machine_id,
            address=client_address(request),
        )
        return NewKeyOut(**KeyOut.of(made.key).model_dump(), key=made.secret)

    @router.delete("/{key_id}", status_code=204, summary="Revoke a key (admin)")
    def revoke_key(key_id: PathId, user: CurrentUser, accounts: Accounts, request: Request) -> None:
        require(user.may_manage_keys(), "admins only")
        if accounts.revoke_key(user, key_id, client_address(request)) is None:
            raise HTTPException(404, f"no key with id {key_id}")

    return router
