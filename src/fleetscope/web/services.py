"""The read side's services, as the web routes receive them, and how a request's session is
found (a Bearer token or the dashboard's cookie)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from fleetscope.model.auth import Principal
from fleetscope.query.accounts import AccountService
from fleetscope.query.auth import AuthService
from fleetscope.query.fleet import FleetQueries
from fleetscope.query.hosts import HostQueries
from fleetscope.query.inventory import InventoryQueries
from fleetscope.query.live import LiveHub
from fleetscope.query.metrics import MetricQueries
from fleetscope.query.processes import ProcessQueries

# The dashboard's session: the login token in an HttpOnly cookie, so page loads and the
# WebSocket authenticate without script access to the token. API clients send it as Bearer.
SESSION_COOKIE = "fleetscope_session"


@dataclass(frozen=True)
class ReadServices:
    auth: AuthService
    hosts: HostQueries
    metrics: MetricQueries
    fleet: FleetQueries
    processes: ProcessQueries
    inventory: InventoryQueries
    live: LiveHub = field(default_factory=LiveHub)
    clock: Callable[[], float] = time.time
    # Tenants, users, keys and the audit log; the routes that manage them are mounted only
    # where it is given (web/api.py).
    accounts: AccountService | None = None

    def now_ms(self) -> int:
        return round(self.clock() * 1000)

    def session(self, request: HTTPConnection) -> tuple[Principal, str] | None:
        """The principal of the request's Bearer token or session cookie, and the token."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or request.cookies.get(SESSION_COOKIE, "")
        if not token:
            return None
        found = self.auth.verify_token(token)
        return None if found is None else (found, token)
