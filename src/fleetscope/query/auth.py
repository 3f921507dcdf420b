"""Login, sessions and read keys for the read side (API, dashboard, CLI).

A login is throttled per username and per client address (store/throttle.py): a throttled
attempt is refused before any password is checked, with the seconds to wait, and costs no
argon2 work. Every attempt, failed, throttled or successful, goes to the audit log.

Login, key and session lookups span tenants by their nature (the tenant is what they find),
so they run privileged (store/tenancy.py all_tenants); a verified token then opens its
tenant's rows, and only those, to the rest of the request (enter_tenant).

A bearer token on a read route is a login session's, or a `read`-scope API key's. Read keys
are verified on every request (no cache), so a revoked read key is refused at once; ingest's
key cache (cli/wiring.py CachedKeys) is what lets an ingest key live on for a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from fleetscope.model.auth import AuditAction, Principal
from fleetscope.store import accounts, audit, keys
from fleetscope.store import auth as store_auth
from fleetscope.store.tenancy import enter_tenant, privileged
from fleetscope.store.throttle import DEFAULT_THROTTLE, Throttle


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A session token, or why not: retry_after > 0 when throttled, else wrong credentials."""

    token: str | None
    retry_after: int = 0


class AuthService:
    def __init__(
        self,
        engine: Engine,
        throttle: Throttle = DEFAULT_THROTTLE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.throttle = throttle
        self.clock = clock

    def _now_ms(self) -> int:
        return round(self.clock() * 1000)

    @privileged
    def login(self, username: str, password: str) -> str | None:
        """A session for valid credentials, unthrottled and unaudited (tests, the CLI)."""
        return store_auth.login(self.engine, username, password)

    @privileged
    def attempt_login(self, username: str, password: str, address: str | None) -> LoginAttempt:
        """A login from the API or the dashboard: throttled, audited."""
        at = self._now_ms()
        wait = self.throttle.retry_after(self.engine, username, address, at_ms=at)
        if wait > 0:
            self._audit_login(username, AuditAction.LOGIN_THROTTLED, address, at)
            return LoginAttempt(None, wait)
        user = accounts.authenticate(self.engine, username, password)
        if user is None:
            self.throttle.record_failure(self.engine, username, address, at_ms=at)
            self._audit_login(username, AuditAction.LOGIN_FAILED, address, at)
            return LoginAttempt(None)
        self.throttle.record_success(self.engine, username)
        with self.engine.begin() as conn:
            token = store_auth.open_session(conn, user)
            audit.append(
                conn,
                user.tenant_id,
                user.username,
                AuditAction.LOGIN_SUCCEEDED,
                f"user:{user.username}",
                address=address,
                at_ms=at,
            )
        return LoginAttempt(token)

    def _audit_login(
        self, username: str, action: AuditAction, address: str | None, at_ms: int
    ) -> None:
        # The tenant of the user named, so that its admins see attempts on their accounts;
        # a username nobody has is recorded under no tenant.
        known = accounts.user_by_name(self.engine, username)
        audit.append_event(
            self.engine,
            None if known is None else known.tenant_id,
            username,
            action,
            f"user:{username}",
            address=address,
            at_ms=at_ms,
        )

    @privileged
    def check_password_attempt(self, username: str, address: str | None) -> int:
        """Seconds before another password check for this user from this address may be made
        (a change of one's own password counts like a login: a stolen session must not let
        its holder guess the password unthrottled)."""
        return self.throttle.retry_after(self.engine, username, address, at_ms=self._now_ms())

    @privileged
    def record_password_failure(self, username: str, address: str | None) -> None:
        self.throttle.record_failure(self.engine, username, address, at_ms=self._now_ms())

    def verify_token(self, token: str) -> Principal | None:
        """A live session's user, or a live read key; None otherwise (an ingest key too).
        Within a request, the rest of it sees that principal's tenant from now on."""
        principal = self._principal_of(token)
        if principal is not None:
            enter_tenant(principal.tenant_id)
        return principal

    @privileged
    def _principal_of(self, token: str) -> Principal | None:
        principal = store_auth.verify_session(self.engine, token)
        if principal is None and token.startswith(keys.KEY_PREFIX):
            key = keys.verify_key(self.engine, token)
            if key is not None and key.may_read():
                return key
        return principal

    @privileged
    def is_agent_key(self, token: str) -> bool:
        """Whether `token` is a live API key that may not read (an ingest key): such a caller
        is known but may only send data, so the read side answers it 403 rather than 401."""
        principal = keys.verify_key(self.engine, token)
        return principal is not None and not principal.may_read()

    @privileged
    def logout(self, token: str, address: str | None = None) -> bool:
        principal = store_auth.verify_session(self.engine, token)
        with self.engine.begin() as conn:
            ended = store_auth.logout(conn, token)
            if ended and principal is not None:
                audit.append(
                    conn,
                    principal.tenant_id,
                    principal.subject,
                    AuditAction.LOGOUT,
                    f"user:{principal.subject}",
                    address=address,
                    at_ms=self._now_ms(),
                )
        return ended
