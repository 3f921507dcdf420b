"""flatten_columns (model/series.py), digest's column path, against the row path it replaced,
kept as tests/reference_series.py: the same keys in the same order, the same values of the
same types (a float, or None for absent), on real snapshots (the golden one, the fixture trees
as the agent's collectors read them, the simulator's snapshot) and on snapshots built in Python
with ints where floats are declared, bools and absent sections. Digest stores exactly these
keys and values (transform.payload_rows), so a difference here would be a different layout or
a different frame."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from fleetscope.digest.transform import payload_rows
from fleetscope.model.codec import convert, decode_payload, decode_snapshot, encode
from fleetscope.model.payload import (
    CollectorStatus,
    CpuModeSeconds,
    CpuSection,
    FilesystemMount,
    FilesystemSection,
    NetworkInterface,
    NetworkSection,
    ProcessesSection,
    ProcessGroup,
    Snapshot,
)
from fleetscope.model.series import flatten_columns, flatten_snapshot
from tests import reference_series
from tests.agent.test_node_exporter_parity import FIXTURE_PAGE_SIZE, collect_snapshot
from tests.helpers import payload
from tests.synthetic_host import Scenario, snapshots

DATA = Path(__file__).parent.parent / "data" / "series"
AT = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)


def typed(pairs: list[tuple[str, Any]]) -> list[tuple[str, type, Any]]:
    """1 == 1.0 in Python: the type is compared too, since a stored int is not a float."""
    return [(key, type(value), value) for key, value in pairs]


def assert_same(snapshot: Snapshot) -> int:
    reference = reference_series.flatten_snapshot(snapshot)
    keys, values = flatten_columns(snapshot)
    assert typed(list(zip(keys, values, strict=True))) == typed(reference)
    assert typed(flatten_snapshot(snapshot)) == typed(reference)
    # Twice: the second time from the plans' cache.
    assert typed(list(zip(*flatten_columns(snapshot), strict=True))) == typed(reference)
    return len(reference)


def test_the_golden_snapshot() -> None:
    snapshot = decode_snapshot((DATA / "snapshot.json").read_bytes())
    assert assert_same(snapshot) > 100


@pytest.mark.parametrize(
    ("tree", "page_size"),
    [
        ("node_exporter/tree", FIXTURE_PAGE_SIZE),
        ("procfs/tree", FIXTURE_PAGE_SIZE),
        ("live/t0", 4096),
        ("live/t0/after", 4096),
    ],
)
def test_fixture_trees_as_the_agent_reads_them(
    fixtures_dir: Path, tree: str, page_size: int
) -> None:
    snapshot = collect_snapshot(fixtures_dir / tree, page_size)
    assert assert_same(snapshot) > 100
    # As digest sees it: through the wire and back.
    assert assert_same(decode_snapshot(encode(snapshot))) > 100


def test_frames_as_digest_stores_them() -> None:
    """Through the wire and payload_rows: each frame's layout and values are the reference's."""
    golden = decode_snapshot((DATA / "snapshot.json").read_bytes())
    sent = payload(1)
    decoded = decode_payload(encode(replace(sent, snapshots=[golden, *sent.snapshots])))
    rows = payload_rows(1, decoded)
    assert len(rows.frames) == 2
    for frame, shot in zip(rows.frames, decoded.snapshots, strict=True):
        reference = reference_series.flatten_snapshot(shot)
        assert typed(list(zip(frame.series, frame.values, strict=True))) == typed(reference)


def test_synthetic_hosts() -> None:
    for snapshot in snapshots(Scenario(), 3):
        assert_same(snapshot)


def test_python_built_records_with_ints_bools_and_absent_parts() -> None:
    """Ints in float fields become floats, bools 1/0 where they are series, an absent Struct
    field (cpu.pressure) is a None series, an older agent's missing fields no series."""
    snapshot = Snapshot(
        timestamp=AT,
        collectors=[CollectorStatus(name="cpu", success=False, duration_seconds=1)],
        cpu=CpuSection(seconds_total=CpuModeSeconds(user=1, system=2, idle=3), load1=1),
        network=NetworkSection(
            interfaces=[
                NetworkInterface(
                    device="eth0",
                    receive_bytes_total=1,
                    receive_packets_total=2,
                    transmit_bytes_total=3,
                    transmit_packets_total=4,
                    up=True,
                    carrier=None,
                    operstate="up",
                )
            ],
            tcp_connections_by_state={"LISTEN": 3, "ESTABLISHED": 1},
        ),
        processes=ProcessesSection(
            count=3,
            groups=[
                ProcessGroup(
                    name='a "b"',
                    num_procs=2,
                    num_threads=3,
                    cpu_user_seconds_total=1,
                    cpu_system_seconds_total=2,
                    read_bytes_total=0,
                    write_bytes_total=5,
                    resident_bytes=7,
                    virtual_bytes=8,
                )
            ],
        ),
        filesystem=FilesystemSection(
            mounts=[
                FilesystemMount(
                    device="/dev/sda1",
                    mountpoint="/",
                    fstype="ext4",
                    readonly=False,
                    size_bytes=10,
                    device_error=True,
                    stuck=False,
                )
            ]
        ),
    )
    assert assert_same(snapshot) > 20
    assert assert_same(Snapshot(timestamp=AT)) == 0


def test_every_section_of_the_golden_snapshot_alone() -> None:
    """Each section on its own, so that a section's order or presence rules are checked apart
    from the others'."""
    raw = json.loads((DATA / "snapshot.json").read_bytes())
    for name in raw:
        if name == "timestamp":
            continue
        alone = convert({"timestamp": raw["timestamp"], name: raw[name]}, Snapshot)
        assert_same(alone)
