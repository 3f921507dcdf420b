"""Two tenants with a user of every role and a key of every scope, made through the REST API
of a running server (tests/server.py), for the account, isolation and login tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.helpers import payload, payload_json
from tests.server import LiveServer

PASSWORD = "a long enough password"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(live: LiveServer, username: str, password: str = PASSWORD) -> dict[str, str]:
    answer = live.client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert answer.status_code == 200, answer.text
    live.client.cookies.clear()  # the dashboard's cookie: each test caller sends a bearer only
    return bearer(answer.json()["token"])


@dataclass
class Tenant:
    id: int
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # caller -> headers
    user_ids: dict[str, int] = field(default_factory=dict)
    key_ids: dict[str, int] = field(default_factory=dict)
    host_id: int | None = None


def make_user(
    live: LiveServer, admin: dict[str, str], username: str, role: str, **extra: int
) -> int:
    made = live.client.post(
        "/api/v1/users",
        json={"username": username, "password": PASSWORD, "role": role, **extra},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    user_id: int = made.json()["id"]
    return user_id


def make_key(live: LiveServer, admin: dict[str, str], name: str, scope: str) -> tuple[int, str]:
    made = live.client.post("/api/v1/keys", json={"name": name, "scope": scope}, headers=admin)
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["key"]


def populate(live: LiveServer, tenant: Tenant, prefix: str, admin: dict[str, str]) -> None:
    """Users of every role, a read and an ingest key, and one host with data."""
    tenant.headers["admin"] = admin
    for role in ("editor", "viewer"):
        tenant.user_ids[role] = make_user(live, admin, f"{prefix}-{role}", role)
        tenant.headers[role] = login(live, f"{prefix}-{role}")
    for scope in ("read", "ingest"):
        key_id, key = make_key(live, admin, f"{prefix} {scope}", scope)
        tenant.key_ids[scope] = key_id
        tenant.headers[scope] = bearer(key)
    sent = live.client.post(
        "/api/v1/ingest",
        content=payload_json(payload(hostname=f"{prefix}-host", machine_id=f"m-{prefix}")),
        headers={**tenant.headers["ingest"], "Content-Type": "application/json"},
    )
    assert sent.status_code == 202, sent.text
    live.wait_digested()
    hosts = live.client.get("/api/v1/hosts", headers=admin).json()
    tenant.host_id = next(h["id"] for h in hosts if h["name"] == f"{prefix}-host")


@dataclass
class TwoTenants:
    superuser: dict[str, str]
    a: Tenant
    b: Tenant


def two_tenants(
    live: LiveServer, a_prefix: str = "a", b_prefix: str = "b", b_name: str = "tenant b"
) -> TwoTenants:
    """Tenant A is the default one, whose bootstrap admin is the superuser; it also gets an
    admin who is not. Tenant B (`b_name`) is made by the superuser, with its first admin.
    Users, keys and the host are named after each tenant's prefix."""
    superuser = live.user_headers()
    live.client.cookies.clear()
    me = live.client.get("/api/v1/me", headers=superuser).json()
    a = Tenant(me["tenant_id"])
    a.user_ids["admin"] = make_user(live, superuser, f"{a_prefix}-admin", "admin")
    populate(live, a, a_prefix, login(live, f"{a_prefix}-admin"))
    made = live.client.post("/api/v1/tenants", json={"name": b_name}, headers=superuser)
    assert made.status_code == 201, made.text
    b = Tenant(made.json()["id"])
    b.user_ids["admin"] = make_user(live, superuser, f"{b_prefix}-admin", "admin", tenant_id=b.id)
    populate(live, b, b_prefix, login(live, f"{b_prefix}-admin"))
    return TwoTenants(superuser, a, b)
