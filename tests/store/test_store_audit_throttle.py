"""store/audit.py (append, list per tenant) and store/throttle.py (login back-off per user and
per address, bounded), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from fleetscope.model.auth import AuditAction
from fleetscope.store import accounts, audit
from fleetscope.store.account_tables import login_throttle
from fleetscope.store.throttle import (
    ADDRESS_POLICY,
    USER_POLICY,
    Throttle,
    ThrottlePolicy,
    address_subject,
    username_subject,
)

T = 1_800_000_000_000


def _tenant(engine: Engine) -> int:
    with engine.connect() as conn:
        tenant = accounts.default_tenant_id(conn)
    assert tenant is not None
    return tenant


def test_audit_appends_and_lists_per_tenant_newest_first(engine: Engine) -> None:
    tenant = _tenant(engine)
    other = accounts.create_tenant(engine, "b").id
    audit.append_event(engine, tenant, "admin", AuditAction.LOGIN_SUCCEEDED, address="10.0.0.1")
    audit.append_event(
        engine, tenant, "admin", AuditAction.KEY_CREATED, "key:7", detail={"prefix": "fsk_abcdef"}
    )
    with engine.begin() as conn:  # in the caller's transaction
        audit.append(conn, other, "bob", AuditAction.USER_CREATED, "user:carol", at_ms=T)
    audit.append_event(engine, None, "nobody", AuditAction.LOGIN_FAILED, address="x" * 100)
    entries = audit.list_entries(engine, tenant)
    assert [e.action for e in entries] == ["key.created", "login.succeeded"]
    assert entries[0].detail == {"prefix": "fsk_abcdef"} and entries[0].object == "key:7"
    assert entries[1].detail == {} and entries[1].address == "10.0.0.1"
    [theirs] = audit.list_entries(engine, other)
    assert (theirs.actor, theirs.object, theirs.at_ms) == ("bob", "user:carol", T)
    [orphan] = audit.list_entries(engine, None)
    assert orphan.tenant_id is None and orphan.address == "x" * audit.ADDRESS_MAX
    paged = audit.list_entries(engine, tenant, limit=1, before_id=entries[0].id)
    assert paged == entries[1:]
    assert audit.list_entries(engine, tenant, action=AuditAction.KEY_CREATED) == entries[:1]
    assert audit.list_entries(engine, tenant, actor="someone else") == []


def test_back_off_doubles_after_the_free_failures_up_to_the_bound() -> None:
    policy = ThrottlePolicy(
        free_failures=3, base_seconds=2, max_seconds=30, forget_after_seconds=60
    )
    assert [policy.delay_seconds(n) for n in range(1, 9)] == [0, 0, 2, 4, 8, 16, 30, 30]
    assert policy.delay_seconds(10_000) == 30
    with pytest.raises(ValueError, match="forget_after"):
        ThrottlePolicy(free_failures=1, base_seconds=1, max_seconds=61, forget_after_seconds=60)
    # Nobody can hold an account behind more than a minute; an address up to 15 minutes.
    assert USER_POLICY.delay_seconds(10**6) == 60 and ADDRESS_POLICY.delay_seconds(10**6) == 900


def test_per_user_throttle_is_bounded_and_cleared_by_success(engine: Engine) -> None:
    throttle = Throttle()
    at = T
    waits = []
    for i in range(12):
        at = T + i * 1000
        # Each failure from a new address: only the per-user counter grows.
        waits.append(throttle.record_failure(engine, "Alice", f"10.0.0.{i}", at_ms=at))
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60]
    # The owner, from another address, waits at most the user's bound.
    assert throttle.retry_after(engine, " alice ", "192.0.2.9", at_ms=at) == 60
    assert throttle.retry_after(engine, "alice", "192.0.2.9", at_ms=at + 60_000) == 0
    assert throttle.retry_after(engine, "bob", "192.0.2.9", at_ms=at) == 0
    throttle.record_success(engine, "alice")
    assert throttle.retry_after(engine, "alice", None, at_ms=at) == 0


def test_per_address_throttle_holds_the_attacker_not_the_user(engine: Engine) -> None:
    throttle = Throttle(user=USER_POLICY, address=ADDRESS_POLICY)
    at = T
    for i in range(29):  # 20 free, then 1, 2, 4 ... 512 s
        at = T + i
        # A different username each time: only the address counter grows past its free ones.
        throttle.record_failure(engine, f"user{i}", "2001:db8::1", at_ms=at)
    assert throttle.retry_after(engine, "victim", "2001:db8::1", at_ms=at) == 512
    # The same /64 counts as the same attacker; another block and the victim's own are free.
    assert throttle.retry_after(engine, "victim", "2001:db8::ffff", at_ms=at) == 512
    assert throttle.retry_after(engine, "victim", "2001:db8:1::1", at_ms=at) == 0
    assert throttle.retry_after(engine, "victim", "10.0.0.1", at_ms=at) == 0
    throttle.record_success(engine, "user3")  # a success does not reset the address
    assert throttle.retry_after(engine, None, "2001:db8::1", at_ms=at) == 512
    assert throttle.retry_after(engine, None, None, at_ms=at) == 0


def test_counters_are_forgotten_after_a_quiet_period_and_pruned(engine: Engine) -> None:
    throttle = Throttle(
        user=ThrottlePolicy(
            free_failures=1, base_seconds=1, max_seconds=10, forget_after_seconds=60
        ),
        address=ThrottlePolicy(
            free_failures=100, base_seconds=1, max_seconds=10, forget_after_seconds=120
        ),
    )
    assert throttle.record_failure(engine, "ann", "10.0.0.1", at_ms=T) == 1
    assert throttle.record_failure(engine, "ann", "10.0.0.1", at_ms=T + 1000) == 2
    # 61 s quiet: the user's counter starts again at one failure.
    assert throttle.record_failure(engine, "ann", "10.0.0.1", at_ms=T + 62_000) == 1
    assert throttle.prune(engine, at_ms=T + 62_000 + 60_000) == 0  # both seen within forget
    assert throttle.prune(engine, at_ms=T + 62_000 + 61_000) == 1  # the user's row
    assert throttle.prune(engine, at_ms=T + 62_000 + 121_000) == 1  # the address's row
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(login_throttle)).scalar_one() == 0


def test_subjects_are_normalised() -> None:
    assert username_subject("  Alice ") == "alice"
    assert username_subject("x" * 1000) == "x" * 256
    assert address_subject("192.0.2.1") == "192.0.2.1"
    assert address_subject("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_subject("2001:db8::1") == "2001:db8::/64"
    assert address_subject(" proxy-said-this ") == "proxy-said-this"
