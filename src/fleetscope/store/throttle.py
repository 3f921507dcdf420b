"""Login throttling per user and per address (issue 12), kept in the database so that every
server behind a load balancer counts the same failures.

After a few free failures each further one doubles the wait before the next attempt, up to a
bound. The two counters have different bounds on purpose:

- per address (ADDRESS_POLICY), up to 15 minutes: it slows the one
  attacking, whoever they aim at. IPv6 addresses count per /64, the block one subscriber
  usually has, so a new address from the same block does not start afresh.
- per username (USER_POLICY), up to 60 seconds only: it slows guessing spread over many
  addresses, but since anyone can fail logins for any username, a large bound would let an
  attacker lock the owner out. Whatever an attacker does, the owner waits at most 60 s
  (OWASP's advice against lockouts that others can trigger).

A success clears the username's counter, not the address's (an attacker with an account of
their own could otherwise reset their address between guesses). A counter is forgotten after a
quiet period (forget_after_seconds), and prune() deletes such rows.

The caller asks retry_after() before checking the password (a throttled attempt is answered 429
with Retry-After and costs no argon2 work), then records the outcome.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from sqlalchemy import Engine, case, delete, or_, select, tuple_, update

from fleetscope.store.account_tables import login_throttle
from fleetscope.store.sql import insert_for

SUBJECT_MAX = 256
IPV6_BLOCK = 64


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    free_failures: int  # failures allowed before any wait
    base_seconds: float  # the wait after the first failure beyond the free ones
    max_seconds: float  # the bound: no wait is ever longer
    forget_after_seconds: float  # a counter quiet this long starts again from zero

    def __post_init__(self) -> None:
        if not 0 < self.max_seconds <= self.forget_after_seconds:
            raise ValueError("max_seconds must be positive and at most forget_after_seconds")

    def delay_seconds(self, failures: int) -> float:
        """The wait after the failures-th failure in a row."""
        if failures < self.free_failures:
            return 0.0
        exponent = min(failures - self.free_failures, 62)  # 2**62 s is past any bound
        return min(self.max_seconds, self.base_seconds * 2.0**exponent)


USER_POLICY = ThrottlePolicy(
    free_failures=5, base_seconds=1, max_seconds=60, forget_after_seconds=15 * 60
)
ADDRESS_POLICY = ThrottlePolicy(
    free_failures=20, base_seconds=1, max_seconds=15 * 60, forget_after_seconds=3600
)


@dataclass(frozen=True, slots=True)
class Throttle:
    """The two policies, so that tests and settings can choose others."""

    user: ThrottlePolicy = USER_POLICY
    address: ThrottlePolicy = ADDRESS_POLICY

    def _subjects(
        self, username: str | None, address: str | None
    ) -> list[tuple[str, str, ThrottlePolicy]]:
        out = []
        if username is not None:
            out.append(("user", username_subject(username), self.user))
        if address:
            out.append(("address", address_subject(address), self.address))
        return out

    def retry_after(
        self, engine: Engine, username: str | None, address: str | None, *, at_ms: int
    ) -> int:
        """Seconds before an attempt for this username from this address may be made (0: now),
        rounded up, as Retry-After wants."""
        subjects = self._subjects(username, address)
        if not subjects:
            return 0
        with engine.connect() as conn:
            blocked = conn.execute(
                select(login_throttle.c.blocked_until_ms).where(
                    tuple_(login_throttle.c.kind, login_throttle.c.subject).in_(
                        [(kind, subject) for kind, subject, _policy in subjects]
                    )
                )
            ).scalars()
            until = max(blocked, default=at_ms)
        return max(0, math.ceil((until - at_ms) / 1000))

    def record_failure(
        self, engine: Engine, username: str | None, address: str | None, *, at_ms: int
    ) -> int:
        """Count a failed login; the seconds before the next attempt may be made."""
        with engine.begin() as conn:
            for kind, subject, policy in self._subjects(username, address):
                forget_before = at_ms - int(policy.forget_after_seconds * 1000)
                first = policy.delay_seconds(1)
                stmt = insert_for(conn, login_throttle).values(
                    kind=kind,
                    subject=subject,
                    failures=1,
                    last_failure_ms=at_ms,
                    blocked_until_ms=at_ms + int(first * 1000),
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=[login_throttle.c.kind, login_throttle.c.subject],
                    set_={
                        "failures": case(
                            (login_throttle.c.last_failure_ms < forget_before, 1),
                            else_=login_throttle.c.failures + 1,
                        ),
                        "last_failure_ms": at_ms,
                    },
                ).returning(login_throttle.c.failures)
                failures = conn.execute(stmt).scalar_one()
                wait_ms = int(policy.delay_seconds(failures) * 1000)
                conn.execute(
                    update(login_throttle)
                    .where(login_throttle.c.kind == kind, login_throttle.c.subject == subject)
                    .values(blocked_until_ms=at_ms + wait_ms)
                )
        return self.retry_after(engine, username, address, at_ms=at_ms)

    def record_success(self, engine: Engine, username: str) -> None:
        """A login succeeded: the username's counter starts again (the address's does not)."""
        with engine.begin() as conn:
            conn.execute(
                delete(login_throttle).where(
                    login_throttle.c.kind == "user",
                    login_throttle.c.subject == username_subject(username),
                )
            )

    def prune(self, engine: Engine, *, at_ms: int) -> int:
        """Delete the counters that are forgotten by now (maintenance); how many."""
        user_before = at_ms - int(self.user.forget_after_seconds * 1000)
        address_before = at_ms - int(self.address.forget_after_seconds * 1000)
        with engine.begin() as conn:
            result = conn.execute(
                delete(login_throttle).where(
                    login_throttle.c.blocked_until_ms <= at_ms,
                    or_(
                        (login_throttle.c.kind == "user")
                        & (login_throttle.c.last_failure_ms < user_before),
                        (login_throttle.c.kind == "address")
                        & (login_throttle.c.last_failure_ms < address_before),
                    ),
                )
            )
        return int(result.rowcount)


def username_subject(username: str) -> str:
    """Case and surrounding blanks do not make another username to throttle."""
    return username.strip().casefold()[:SUBJECT_MAX]


def address_subject(address: str) -> str:
    """An IPv4 address as is; IPv6 by its /64 (an IPv4-mapped one as the IPv4 address);
    anything else (a proxy's odd value) as given."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:SUBJECT_MAX]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_BLOCK), strict=False))
    return str(ip)


DEFAULT_THROTTLE = Throttle()
