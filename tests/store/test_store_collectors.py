"""store/collectors.py and store/collection_files.py: the registry filled from an inventory
and edited, unique per (tenant, site, machine); files kept, listed and downloaded again; on
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import Engine

from fleetscope.model.inventory import CpuInventory, InventorySection, OsInventory
from fleetscope.store import accounts, collection_files, collectors
from fleetscope.store.collection_files import IngestResult, UnknownCollectorError
from fleetscope.store.collectors import DuplicateCollectorError


def _tenant(engine: Engine) -> int:
    with engine.connect() as conn:
        tenant = accounts.default_tenant_id(conn)
    assert tenant is not None
    return tenant


def _inventory(hostname: str = "db1", machine_id: str = "m-1", **more: object) -> InventorySection:
    fields: dict[str, object] = {
        "content_sha256": "0" * 64,
        "agent_version": "1.0",
        "hostname": hostname,
        "machine_id": machine_id,
        "os": OsInventory(id="debian", pretty_name="Debian GNU/Linux 12", kernel="6.1"),
        "cpu": CpuInventory(model="EPYC 7302", vendor="AuthenticAMD", cores=16, threads=32),
        "memory_total_bytes": 64e9,
    }
    fields.update(more)
    return InventorySection(**fields)  # type: ignore[arg-type]


def test_first_contact_registers_from_the_inventory(engine: Engine) -> None:
    tenant = _tenant(engine)
    made = collectors.register_from_inventory(engine, tenant, _inventory(), site="lab")
    assert (made.site, made.machine, made.machine_id) == ("lab", "db1", "m-1")
    assert (made.platform, made.chip_maker, made.cpu_model) == ("Linux", "AMD", "EPYC 7302")
    assert (made.cores, made.memory_bytes, made.owner) == (16, 64_000_000_000, None)
    again = collectors.register_from_inventory(engine, tenant, _inventory(), site="lab")
    assert again == made
    assert collectors.collector_by_machine_id(engine, tenant, "m-1") == made


def test_edits_survive_later_inventories_which_only_fill_gaps(engine: Engine) -> None:
    tenant = _tenant(engine)
    hand = collectors.create_collector(engine, tenant, "db1", site="lab", cpu_model="typed in")
    assert hand.machine_id is None and hand.platform is None
    host_id = None  # no hosts row needed: the link is optional
    filled = collectors.register_from_inventory(
        engine, tenant, _inventory(), site="lab", host_id=host_id
    )
    assert filled.id == hand.id  # found by (site, machine): registered before the agent called
    assert filled.cpu_model == "typed in"  # a person's value wins
    assert filled.machine_id == "m-1" and filled.platform == "Linux" and filled.cores == 16
    edited = collectors.update_collector(
        engine, tenant, hand.id, owner="ops", platform="Linux (VM)", cores=None
    )
    assert edited is not None and (edited.owner, edited.platform, edited.cores) == (
        "ops",
        "Linux (VM)",
        None,
    )
    assert edited.updated_ms >= filled.updated_ms
    later = collectors.register_from_inventory(engine, tenant, _inventory(), site="lab")
    assert later.platform == "Linux (VM)" and later.cores == 16  # cleared, so filled again


def test_unique_per_tenant_site_and_machine(engine: Engine) -> None:
    tenant = _tenant(engine)
    collectors.create_collector(engine, tenant, "web1", site="paris")
    collectors.create_collector(engine, tenant, "web1", site="berlin")
    collectors.create_collector(engine, tenant, "web1")
    with pytest.raises(DuplicateCollectorError):
        collectors.create_collector(engine, tenant, " web1 ", site="paris")
    other = accounts.create_tenant(engine, "b").id
    theirs = collectors.create_collector(engine, other, "web1", site="paris")
    berlin = collectors.list_collectors(engine, tenant, site="berlin")[0]
    with pytest.raises(DuplicateCollectorError):
        collectors.update_collector(engine, tenant, berlin.id, site="paris")
    listed = [(c.site, c.machine) for c in collectors.list_collectors(engine, tenant)]
    assert listed == [("", "web1"), ("berlin", "web1"), ("paris", "web1")]
    assert collectors.get_collector(engine, tenant, theirs.id) is None
    assert collectors.update_collector(engine, tenant, theirs.id, owner="me") is None
    with pytest.raises(ValueError, match="machine name"):
        collectors.create_collector(engine, tenant, "  ")
    with pytest.raises(ValueError, match="negative"):
        collectors.update_collector(engine, tenant, berlin.id, cores=-1)


def test_platform_and_chip_maker_from_other_agents(engine: Engine) -> None:
    tenant = _tenant(engine)
    mac = collectors.register_from_inventory(
        engine,
        tenant,
        _inventory(
            "mbp",
            "m-mac",
            os=OsInventory(name="Darwin", kernel="23.1"),
            cpu=CpuInventory(model="arm", cores=8),
        ),
    )
    assert mac.platform == "macOS" and mac.chip_maker is None and mac.cores == 8
    bare = collectors.register_from_inventory(
        engine, tenant, _inventory("pc", "m-pc", os=None, cpu=None, memory_total_bytes=None)
    )
    assert (bare.platform, bare.cpu_model, bare.memory_bytes) == (None, None, None)
    assert collectors.platform_of(OsInventory(name="Windows")) == "Windows"
    assert collectors.platform_of(OsInventory(name="Plan9")) == "Plan9"


def test_collection_files_kept_listed_and_downloaded(engine: Engine) -> None:
    tenant = _tenant(engine)
    collector = collectors.create_collector(engine, tenant, "db1")
    content = b'{"a": 1}\n' * 1000 + os.urandom(100)
    first = collection_files.add_file(
        engine, tenant, collector.id, content, uploaded_by="agents", result=IngestResult.ACCEPTED
    )
    assert first.size_bytes == len(content)
    assert first.content_sha256 == hashlib.sha256(content).hexdigest()
    assert first.result is IngestResult.ACCEPTED and first.collection_id is None
    assert collection_files.read_content(engine, tenant, first.id) == content
    bad = collection_files.add_file(
        engine,
        tenant,
        collector.id,
        b"",
        uploaded_by="ann",
        result=IngestResult.REJECTED,
        detail="line 1: x" * 1000,
    )
    assert bad.detail is not None and len(bad.detail) == collection_files.DETAIL_MAX
    assert collection_files.read_content(engine, tenant, bad.id) == b""
    assert collection_files.set_result(engine, tenant, first.id, IngestResult.INGESTED)
    listed = collection_files.list_files(engine, tenant, collector.id)
    assert [(f.id, f.result) for f in listed] == [
        (bad.id, IngestResult.REJECTED),
        (first.id, IngestResult.INGESTED),
    ]
    assert collection_files.list_files(engine, tenant, limit=1, before_id=bad.id)[0].id == first.id
    assert collection_files.get_file(engine, tenant, first.id) == listed[1]


def test_collection_files_of_another_tenant_are_out_of_reach(engine: Engine) -> None:
    tenant = _tenant(engine)
    other = accounts.create_tenant(engine, "b").id
    theirs = collectors.create_collector(engine, other, "db1")
    with pytest.raises(UnknownCollectorError):
        collection_files.add_file(
            engine, tenant, theirs.id, b"x", uploaded_by="me", result=IngestResult.ACCEPTED
        )
    file = collection_files.add_file(
        engine, other, theirs.id, b"x", uploaded_by="them", result=IngestResult.ACCEPTED
    )
    assert collection_files.get_file(engine, tenant, file.id) is None
    assert collection_files.read_content(engine, tenant, file.id) is None
    assert collection_files.list_files(engine, tenant) == []
    assert not collection_files.set_result(engine, tenant, file.id, IngestResult.FAILED)
