"""`fleetscope admin tenants|users|keys|collectors --server URL --token TOKEN`: the same
operations as cli/accounts_direct.py, through a running server's REST API (issue 12's exact
paths), with the token of a user session (an admin; the superuser for tenants).

The HTTP client is an argument (an httpx.Client with base_url and the Authorization header
set), so tests hand in a client on the in-process app or a MockTransport. An error the server
answers (RFC 9457 problem+json, edge/problem.py) becomes an AdminError quoting its status,
title, detail and wrong fields; a name given where the API wants an id (a tenant, a user) is
looked up in the matching list first."""

from __future__ import annotations

from typing import Any

import httpx

from fleetscope.cli.accounts_common import AdminError, Record, Records
from fleetscope.model.auth import Role, Scope
from fleetscope.store.collectors import CollectorChanges, CollectorDetails

TENANTS = "/api/v1/tenants"
USERS = "/api/v1/users"
KEYS = "/api/v1/keys"
COLLECTORS = "/api/v1/collectors"
ME = "/api/v1/me"


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

    def _tenant_id(self, given: str | None) -> int | None:
        """--tenant as an id, or a name looked up in GET /api/v1/tenants; None: the token's."""
        if given is None:
            return None
        if given.isdecimal():
            return int(given)
        for tenant in self.tenants():
            if tenant.get("name") == given:
                return int(tenant["id"])
        raise AdminError(f"no tenant {given!r}", 1)

    def tenants(self) -> Records:
        return _items(self._call("GET", TENANTS))

    def create_tenant(self, name: str) -> Record:
        return dict(self._call("POST", TENANTS, body={"name": name}))

    def update_tenant(self, given: str, *, name: str | None, active: bool | None) -> Record:
        tenant_id = self._tenant_id(given)
        changes = {k: v for k, v in {"name": name, "active": active}.items() if v is not None}
        return dict(self._call("PATCH", f"{TENANTS}/{tenant_id}", body=changes))

    # Users

    def _user_id(self, given: str, tenant: str | None) -> int:
        if given.isdecimal():
            return int(given)
        for user in self.users(tenant):
            if user.get("username") == given:
                return int(user["id"])
        raise AdminError(f"no user {given!r}" + (f" in tenant {tenant!r}" if tenant else ""), 1)

    def users(self, tenant: str | None) -> Records:
        return _items(self._call("GET", USERS, params={"tenant_id": self._tenant_id(tenant)}))

    def create_user(
        self, username: str, password: str, role: Role, *, tenant: str | None, superuser: bool
    ) -> Record:
        body: dict[str, Any] = {"username": username, "password": password, "role": role.value}
        tenant_id = self._tenant_id(tenant)
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        if superuser:
            body["superuser"] = True
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
        user_id = self._user_id(given, tenant)
        changes: dict[str, Any] = {
            k: v
            for k, v in {
                "role": None if role is None else role.value,
                "disabled": disabled,
                "superuser": superuser,
                "password": password,
            }.items()
            if v is not None
        }
        return dict(self._call("PATCH", f"{USERS}/{user_id}", body=changes))

    # API keys

    def keys(self, tenant: str | None, *, include_revoked: bool) -> Records:
        found = _items(self._call("GET", KEYS, params={"tenant_id": self._tenant_id(tenant)}))
        return found if include_revoked else [k for k in found if k.get("revoked_ms") is None]

    def create_key(
        self,
        name: str,
        scope: Scope,
        *,
        tenant: str | None,
        machine_id: str | None,
        expires_ms: int | None,
    ) -> Record:
        body: dict[str, Any] = {"name": name, "scope": scope.value}
        optional = {
            "tenant_id": self._tenant_id(tenant),
            "bound_machine_id": machine_id,
            "expires_ms": expires_ms,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return dict(self._call("POST", KEYS, body=body))

    def revoke_key(self, key_id: int, *, tenant: str | None) -> Record:
        params = {"tenant_id": self._tenant_id(tenant)}
        return dict(self._call("DELETE", f"{KEYS}/{key_id}", params=params)) or {"id": key_id}

    # Collectors

    def collectors(self, tenant: str | None, *, site: str | None) -> Records:
        params = {"tenant_id": self._tenant_id(tenant), "site": site}
        return _items(self._call("GET", COLLECTORS, params=params))

    def create_collector(
        self, machine: str, details: CollectorDetails, *, tenant: str | None
    ) -> Record:
        body: dict[str, Any] = {"machine": machine, **details}
        tenant_id = self._tenant_id(tenant)
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        return dict(self._call("POST", COLLECTORS, body=body))

    def update_collector(
        self, collector_id: int, changes: CollectorChanges, *, tenant: str | None
    ) -> Record:
        params = {"tenant_id": self._tenant_id(tenant)}
        return dict(
            self._call("PATCH", f"{COLLECTORS}/{collector_id}", body=dict(changes), params=params)
        )
