"""store/keys.py: API keys shown once, stored hashed, with scope, host binding, expiry,
revocation and last use, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from fleetscope.model.auth import Scope
from fleetscope.store import accounts, auth, keys
from fleetscope.store.engine import now_ms
from fleetscope.store.tables import api_keys


def _tenant(engine: Engine) -> int:
    with engine.connect() as conn:
        tenant = accounts.default_tenant_id(conn)
    assert tenant is not None
    return tenant


def test_a_new_key_is_shown_once_and_stored_hashed(engine: Engine) -> None:
    tenant = _tenant(engine)
    made = keys.create_key(engine, tenant, " reader ", Scope.READ, created_by="admin")
    assert made.secret.startswith(keys.KEY_PREFIX) and len(made.secret) == 47
    assert made.key.name == "reader" and made.key.scope is Scope.READ
    assert made.key.prefix == made.secret[: keys.PREFIX_LENGTH]
    assert made.key.created_by == "admin" and made.key.last_used_ms is None
    with engine.connect() as conn:
        stored = conn.execute(select(api_keys).where(api_keys.c.id == made.key.id)).one()
    assert made.secret not in repr(stored)
    assert stored.key_hash == keys.sha256_hex(made.secret)
    assert keys.get_key(engine, tenant, made.key.id) == made.key
    with pytest.raises(ValueError, match="1 to 128"):
        keys.create_key(engine, tenant, "", Scope.READ)


def test_verify_answers_scope_binding_and_ids(engine: Engine) -> None:
    tenant = _tenant(engine)
    reader = keys.create_key(engine, tenant, "grafana", Scope.READ)
    laptop = keys.create_key(engine, tenant, "laptop", Scope.INGEST, bound_machine_id="m-1")
    read = keys.verify_key(engine, reader.secret)
    assert read is not None and read.may_read() and not read.may_ingest()
    assert read.key_id == reader.key.id and read.tenant_id == tenant and read.subject == "grafana"
    bound = keys.verify_key(engine, laptop.secret)
    assert bound is not None and bound.may_ingest_for("m-1") and not bound.may_ingest_for("m-2")
    # auth.verify_api_key is what ingest calls: ingest keys only.
    assert auth.verify_api_key(engine, reader.secret) is None
    assert auth.verify_api_key(engine, laptop.secret) is not None
    for wrong in ("", "fsk_", laptop.secret[:-1] + "x", "x" + laptop.secret, laptop.secret * 5):
        assert keys.verify_key(engine, wrong) is None


def test_several_keys_live_at_once_and_revoke_is_per_key(engine: Engine) -> None:
    tenant = _tenant(engine)
    old = keys.create_key(engine, tenant, "agents 1", Scope.INGEST)
    new = keys.create_key(engine, tenant, "agents 2", Scope.INGEST)
    assert keys.verify_key(engine, old.secret) and keys.verify_key(engine, new.secret)
    assert keys.revoke_key(engine, tenant, old.key.id)
    assert not keys.revoke_key(engine, tenant, old.key.id)  # once
    assert keys.verify_key(engine, old.secret) is None
    assert keys.verify_key(engine, new.secret) is not None
    live = [k.name for k in keys.list_keys(engine, tenant, include_revoked=False)]
    assert live == ["initial agent key", "agents 2"]
    everything = keys.list_keys(engine, tenant)
    assert [k.name for k in everything] == ["initial agent key", "agents 1", "agents 2"]
    assert everything[1].revoked_ms is not None and not everything[1].live_at(now_ms())


def test_keys_of_another_tenant_are_out_of_reach(engine: Engine) -> None:
    tenant = _tenant(engine)
    other = accounts.create_tenant(engine, "b").id
    theirs = keys.create_key(engine, other, "theirs", Scope.INGEST)
    assert keys.get_key(engine, tenant, theirs.key.id) is None
    assert not keys.revoke_key(engine, tenant, theirs.key.id)
    assert [k.name for k in keys.list_keys(engine, other)] == ["theirs"]
    principal = keys.verify_key(engine, theirs.secret)
    assert principal is not None and principal.tenant_id == other


def test_expiry(engine: Engine) -> None:
    tenant = _tenant(engine)
    expires = now_ms() + 60_000
    made = keys.create_key(engine, tenant, "short", Scope.INGEST, expires_ms=expires)
    assert keys.verify_key(engine, made.secret, at_ms=expires - 1) is not None
    assert keys.verify_key(engine, made.secret, at_ms=expires) is None
    assert made.key.live_at(expires - 1) and not made.key.live_at(expires)


def test_last_used_is_written_once_a_minute(engine: Engine) -> None:
    tenant = _tenant(engine)
    made = keys.create_key(engine, tenant, "busy", Scope.INGEST)
    t = now_ms()

    def last_used() -> int | None:
        key = keys.get_key(engine, tenant, made.key.id)
        assert key is not None
        return key.last_used_ms

    keys.verify_key(engine, made.secret, at_ms=t)
    assert last_used() == t
    keys.verify_key(engine, made.secret, at_ms=t + keys.LAST_USED_RESOLUTION_MS - 1)
    assert last_used() == t
    keys.verify_key(engine, made.secret, at_ms=t + keys.LAST_USED_RESOLUTION_MS)
    assert last_used() == t + keys.LAST_USED_RESOLUTION_MS


def test_revoke_by_secret(engine: Engine) -> None:
    made = keys.create_key(engine, _tenant(engine), "leaked", Scope.READ)
    assert keys.revoke_secret(engine, made.secret)
    assert not keys.revoke_secret(engine, made.secret)
    assert keys.verify_key(engine, made.secret) is None
