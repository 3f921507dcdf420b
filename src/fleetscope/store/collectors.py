"""The collector registry (issue 12): the monitored machines of a tenant, as their owners
describe them, unique per (tenant, site, machine).

A collector is filled from the agent's inventory on first contact (register_from_inventory)
and is editable after that. A later inventory only fills what is still empty: what a person
typed in is never overwritten by what an agent reports. The machine id links a collector to
what agents send (`hosts.machine_id`) and to perfcollector uploads (`machine_id` field).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypedDict, Unpack

from sqlalchemy import Connection, Engine, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from fleetscope.model.inventory import InventorySection, OsInventory
from fleetscope.store.account_tables import collectors
from fleetscope.store.engine import now_ms
from fleetscope.store.transaction import Db, begin

SITE_MAX = 128
MACHINE_MAX = 255

# /proc/cpuinfo vendor_id (and what other platforms report) -> the chip maker people name.
CHIP_MAKERS = {
    "GenuineIntel": "Intel",
    "AuthenticAMD": "AMD",
    "HygonGenuine": "Hygon",
    "CentaurHauls": "Centaur",
    "Shanghai": "Zhaoxin",
}
# platform.system() of the non-Linux agents -> the platform's name.
PLATFORMS = {"Darwin": "macOS", "Windows": "Windows", "Linux": "Linux", "FreeBSD": "FreeBSD"}


class DuplicateCollectorError(ValueError):
    """Another collector of the tenant has that (site, machine)."""


@dataclass(frozen=True, slots=True)
class Collector:
    id: int
    tenant_id: int
    site: str
    machine: str
    machine_id: str | None
    host_id: int | None
    platform: str | None
    chip_maker: str | None
    cpu_model: str | None
    cores: int | None
    memory_bytes: int | None
    owner: str | None
    created_ms: int
    updated_ms: int


class CollectorDetails(TypedDict, total=False):
    """What describes a collector besides its machine name; a key left out stays as it is (or
    empty, at creation), None clears a field."""

    site: str
    machine_id: str | None
    platform: str | None
    chip_maker: str | None
    cpu_model: str | None
    cores: int | None
    memory_bytes: int | None
    owner: str | None


class CollectorChanges(CollectorDetails, total=False):
    """What an edit may change: the details and the machine name."""

    machine: str


_NAMES = [f.name for f in fields(Collector)]
_COLUMNS = tuple(collectors.c[name] for name in _NAMES)
# What an inventory may fill in when it is still empty.
_FROM_INVENTORY = ("machine_id", "platform", "chip_maker", "cpu_model", "cores", "memory_bytes")


def _collector(row: Row[*tuple[Any, ...]]) -> Collector:
    return Collector(*(row._mapping[name] for name in _NAMES))


def _checked(changes: Mapping[str, Any]) -> dict[str, object]:
    values: dict[str, object] = dict(changes)
    if "site" in changes:
        site = changes["site"].strip()
        if len(site) > SITE_MAX:
            raise ValueError(f"a site must be at most {SITE_MAX} characters")
        values["site"] = site
    if "machine" in changes:
        machine = changes["machine"].strip()
        if not machine or len(machine) > MACHINE_MAX:
            raise ValueError(f"a machine name must be 1 to {MACHINE_MAX} characters")
        values["machine"] = machine
    for name in ("cores", "memory_bytes"):
        number = changes.get(name)
        if number is not None and number < 0:
            raise ValueError(f"{name} must not be negative")
    return values


def create_collector(
    db: Db,
    tenant_id: int,
    machine: str,
    *,
    host_id: int | None = None,
    **details: Unpack[CollectorDetails],
) -> Collector:
    values = _checked({"site": "", **details, "machine": machine})
    now = now_ms()
    try:
        with begin(db) as conn:
            row = conn.execute(
                insert(collectors)
                .values(
                    tenant_id=tenant_id, host_id=host_id, created_ms=now, updated_ms=now, **values
                )
                .returning(*_COLUMNS)
            ).one()
    except IntegrityError as exc:
        raise DuplicateCollectorError(
            f"a collector {values['machine']!r} exists already at site {values['site']!r}"
        ) from exc
    return _collector(row)


def update_collector(
    db: Db, tenant_id: int, collector_id: int, **changes: Unpack[CollectorChanges]
) -> Collector | None:
    """Edit a collector of the tenant; None when it has no such collector."""
    values = _checked(changes)
    try:
        with begin(db) as conn:
            row = conn.execute(
                update(collectors)
                .where(collectors.c.id == collector_id, collectors.c.tenant_id == tenant_id)
                .values(updated_ms=now_ms(), **values)
                .returning(*_COLUMNS)
            ).first()
    except IntegrityError as exc:
        raise DuplicateCollectorError("another collector has that site and machine") from exc
    return None if row is None else _collector(row)


def get_collector(engine: Engine, tenant_id: int, collector_id: int) -> Collector | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(*_COLUMNS).where(
                collectors.c.id == collector_id, collectors.c.tenant_id == tenant_id
            )
        ).first()
    return None if row is None else _collector(row)


def collector_by_machine_id(engine: Engine, tenant_id: int, machine_id: str) -> Collector | None:
    """The collector an agent or a perfcollector upload names by machine id (the oldest, should
    the same machine id be registered at two sites)."""
    with engine.connect() as conn:
        return _by_machine_id(conn, tenant_id, machine_id)


def _by_machine_id(conn: Connection, tenant_id: int, machine_id: str) -> Collector | None:
    row = conn.execute(
        select(*_COLUMNS)
        .where(collectors.c.tenant_id == tenant_id, collectors.c.machine_id == machine_id)
        .order_by(collectors.c.id)
        .limit(1)
    ).first()
    return None if row is None else _collector(row)


def list_collectors(engine: Engine, tenant_id: int, *, site: str | None = None) -> list[Collector]:
    query = select(*_COLUMNS).where(collectors.c.tenant_id == tenant_id)
    if site is not None:
        query = query.where(collectors.c.site == site)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(collectors.c.site, collectors.c.machine)).all()
    return [_collector(row) for row in rows]


def platform_of(os: OsInventory | None) -> str | None:
    """Linux when the agent read an os-release file; else the name platform.system() gave."""
    if os is None:
        return None
    if os.id is not None or os.pretty_name is not None:
        return "Linux"
    if os.name is None:
        return None
    return PLATFORMS.get(os.name, os.name)


def inventory_details(inventory: InventorySection) -> CollectorDetails:
    """What an inventory audit says of the machine, in the registry's terms."""
    cpu = inventory.cpu
    vendor = None if cpu is None else cpu.vendor
    return CollectorDetails(
        machine_id=inventory.machine_id,
        platform=platform_of(inventory.os),
        chip_maker=None
        if vendor is None
        else CHIP_MAKERS.get(vendor.strip(), vendor.strip() or None),
        cpu_model=None if cpu is None else cpu.model,
        cores=None if cpu is None else (cpu.cores if cpu.cores is not None else cpu.threads),
        memory_bytes=None
        if inventory.memory_total_bytes is None
        else int(inventory.memory_total_bytes),
    )


def register_from_inventory(
    engine: Engine,
    tenant_id: int,
    inventory: InventorySection,
    *,
    machine_id: str | None = None,
    site: str = "",
    host_id: int | None = None,
) -> Collector:
    """The collector of the machine an agent's inventory describes, made on first contact.

    Found by machine id (the inventory's, or machine_id when given: the one the agent sends
    in its payload), else by (site, hostname), a collector registered by hand before its
    agent first called. Fields still empty are filled from the inventory, and host_id linked;
    nothing already set changes. Safe when two first contacts race: the loser reads the
    winner's row."""
    details = inventory_details(inventory)
    machine_id = machine_id or details.get("machine_id")
    details["machine_id"] = machine_id
    machine = (inventory.hostname or machine_id or "").strip()[:MACHINE_MAX] or "unnamed"
    site = site.strip()
    details["site"] = site
    for _attempt in range(2):
        with engine.begin() as conn:
            found = _by_machine_id(conn, tenant_id, machine_id) if machine_id else None
            if found is None:
                row = conn.execute(
                    select(*_COLUMNS).where(
                        collectors.c.tenant_id == tenant_id,
                        collectors.c.site == site,
                        collectors.c.machine == machine,
                    )
                ).first()
                found = None if row is None else _collector(row)
            if found is not None:
                return _fill(conn, found, details, host_id)
        try:
            return create_collector(engine, tenant_id, machine, host_id=host_id, **details)
        except DuplicateCollectorError:
            continue  # another first contact made it meanwhile: read theirs
    raise RuntimeError(f"collector {machine!r} could be neither made nor found")


def _fill(
    conn: Connection, found: Collector, details: CollectorDetails, host_id: int | None
) -> Collector:
    values: dict[str, object] = {
        name: details.get(name)
        for name in _FROM_INVENTORY
        if getattr(found, name) is None and details.get(name) is not None
    }
    if found.host_id is None and host_id is not None:
        values["host_id"] = host_id
    if not values:
        return found
    row = conn.execute(
        update(collectors)
        .where(collectors.c.id == found.id)
        .values(updated_ms=now_ms(), **values)
        .returning(*_COLUMNS)
    ).one()
    return _collector(row)
