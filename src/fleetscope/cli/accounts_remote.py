"""`fleetscope admin tenants|users|keys|collectors --server URL --token TOKEN`: the same
operations as cli/accounts_direct.py, through a running server's REST API (issue 12's paths:
web/routes/tenants.py, users.py, keys.py, collectors.py), with a user session's token (an
admin's; the superuser's for tenants).

The server acts on the token's tenant: --tenant may name another only for `users create` (a
tenant's first admin, made by the superuser); for the rest it must be the token's own, as
/api/v1/me says, else exit code 2. The superuser flag is not in the API (direct mode only).

The HTTP client is an argument (an httpx.Client with base_url and the Authorization header
set), so tests hand in a client on the in-process app or a MockTransport. An error the server
answers (RFC 9457 problem+json, edge/problem.py) becomes an AdminError quoting its status,
title, detail and wrong fields; a name given where the API wants an id (a tenant, a user) is
looked up in the matching list first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from fleetscope.cli.accounts_common import AdminError, Record, Records
from fleetscope.model.auth import Role, Scope

if TYPE_CHECKING:  # types only: store.collectors imports SQLAlchemy, a client needs none
    from fleetscope.store.collectors import CollectorChanges, CollectorDetails

TENANTS = "/api/v1/tenants"
USERS = "/api/v1/users"
KEYS = "/api/v1/keys"
COLLECTORS = "/api/v1/collectors"
ME = "/api/v1/me"
_SUPERUSER_DIRECT = (
    "--superuser: the API grants no superuser flag; give it directly on the store "
    "(--data-dir/--database)"
)


def problem_text(response: httpx.Response) -> str:
    """What went wrong, as the server said it: status, title, detail, each wrong field."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = " ".join(response.text.split())[:200]
        return f"{response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")
    title = body.get("title") or response.reason_phrase
    message = f"{response.status_code} {title}"
    detail = body.get("detail")
    if detail:
        message += f": {detail}"
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            message += f"\n  {error.get('field')}: {error.get('message')}"
    return message


def _items(body: Any) -> Records:
    """A list answer, bare or as {"items": [...]}."""
    if isinstance(body, dict):
        body = body.get("items", [])
    if not isinstance(body, list):
        raise AdminError(f"the server answered an unexpected list: {str(body)[:200]}", 1)
    return [item for item in body if isinstance(item, dict)]


class RemoteAccounts:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def close(self) -> None:
        self.http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        wanted = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self.http.request(method, path, json=body, params=wanted or None)
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach the server at {self.http.base_url}: {exc}", 1) from exc
        if response.is_error:
            raise AdminError(f"the server refused {method} {path}: {problem_text(response)}", 1)
        if response.status_code == httpx.codes.NO_CONTENT or not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise AdminError(f"{method} {path} answered no JSON: {response.text[:200]}", 1) from exc

    def me(self) -> Record:
        return dict(self._call("GET", ME))

    # Tenants

    def _tenant_id(self, given: str) -> int:
        """--tenant as an id, or a name looked up in GET /api/v1/tenants (the superuser's)."""
        if given.isdecimal():
            return int(given)
        for tenant in self.tenants():
            if tenant.get("name") == given:
                return int(tenant["id"])
        raise AdminError(f"no tenant {given!r}", 1)

    def _own_tenant(self, given: str | None) -> None:
        """--tenant, where the server can only act on the token's tenant: that one or none."""
        if given is None:
            return
        me = self.me()
        if given in (str(me.get("tenant_id")), me.get("tenant_name")):
            return
        raise AdminError(
            f"--tenant {given}: the server acts on the token's tenant "
            f"({me.get('tenant_name')!r}); sign in as one of that tenant's admins, or use "
            "--data-dir/--database",
            2,
        )

    def tenants(self) -> Records:
        return _items(self._call("GET", TENANTS))

    def create_tenant(self, name: str) -> Record:
        return dict(self._call("POST", TENANTS, body={"name": name}))

    def update_tenant(self, given: str, *, name: str | None, active: bool | None) -> Record:
        tenant_id = self._tenant_id(given)
        changes = {k: v for k, v in {"name": name, "active": active}.items() if v is not None}
        return dict(self._call("PATCH", f"{TENANTS}/{tenant_id}", body=changes))

    # Users

    def _user_id(self, given: str) -> int:
        if given.isdecimal():
            return int(given)
        for user in self.users(None):
            if user.get("username") == given:
                return int(user["id"])
        raise AdminError(f"no user {given!r}", 1)

    def users(self, tenant: str | None) -> Records:
        self._own_tenant(tenant)
        return _items(self._call("GET", USERS))

    def create_user(
        self, username: str, password: str, role: Role, *, tenant: str | None, superuser: bool
    ) -> Record:
        if superuser:
            raise AdminError(_SUPERUSER_DIRECT, 2)
        body: dict[str, Any] = {"username": username, "password": password, "role": role.value}
        if tenant is not None:
            body["tenant_id"] = self._tenant_id(tenant)
        return dict(self._call("POST", USERS, body=body))

    def update_user(
        self,
        given: str,
        *,
        tenant: str | None,
        role: Role | None,
        disabled: bool | None,
        password: str | None,
        superuser: bool | None,
    ) -> Record:
        if superuser is not None:
            raise AdminError(_SUPERUSER_DIRECT, 2)
        self._own_tenant(tenant)
        user_id = self._user_id(given)
        changes: dict[str, Any] = {
            k: v
            for k, v in {
                "role": None if role is None else role.value,
                "disabled": disabled,
            }.items()
            if v is not None
        }
        if changes:
            self._call("PATCH", f"{USERS}/{user_id}", body=changes)
        if password is not None:
            self._call("POST", f"{USERS}/{user_id}/password", body={"password": password})
        return dict(self._call("GET", f"{USERS}/{user_id}"))

    # API keys

    def keys(self, tenant: str | None, *, include_revoked: bool) -> Records:
        self._own_tenant(tenant)
        found = _items(self._call("GET", KEYS))
        return found if include_revoked else [k for k in found if k.get("revoked_at") is None]

    def create_key(
        self,
        name: str,
        scope: Scope,
        *,
        tenant: str | None,
        machine_id: str | None,
        expires_ms: int | None,
    ) -> Record:
        self._own_tenant(tenant)
        body: dict[str, Any] = {"name": name, "scope": scope.value}
        if machine_id is not None:
            body["machine_id"] = machine_id
        if expires_ms is not None:
            body["expires_at"] = datetime.fromtimestamp(expires_ms / 1000, UTC).isoformat()
        return dict(self._call("POST", KEYS, body=body))

    def revoke_key(self, key_id: int, *, tenant: str | None) -> Record:
        """As in direct mode, a key revoked already is a refusal (the API's DELETE answers
        204 again)."""
        self._own_tenant(tenant)
        before = self._key(key_id)
        if before is not None and before.get("revoked_at") is not None:
            raise AdminError(f"key {key_id} ({before.get('name')!r}) is revoked already", 1)
        self._call("DELETE", f"{KEYS}/{key_id}")
        return self._key(key_id) or {"id": key_id}

    def _key(self, key_id: int) -> Record | None:
        return next((k for k in _items(self._call("GET", KEYS)) if k.get("id") == key_id), None)

    # Collectors

    def collectors(self, tenant: str | None, *, site: str | None) -> Records:
        self._own_tenant(tenant)
        return _items(self._call("GET", COLLECTORS, params={"site": site}))

    def create_collector(
        self, machine: str, details: CollectorDetails, *, tenant: str | None
    ) -> Record:
        self._own_tenant(tenant)
        return dict(self._call("POST", COLLECTORS, body={"machine": machine, **details}))

    def update_collector(
        self, collector_id: int, changes: CollectorChanges, *, tenant: str | None
    ) -> Record:
        self._own_tenant(tenant)
        return dict(self._call("PATCH", f"{COLLECTORS}/{collector_id}", body=dict(changes)))
