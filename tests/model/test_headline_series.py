"""The headline's series names (model/headline.py) are what the agent really sends: the agent's
collectors run on real fixture trees, digest turns the payload into a frame, and the headline
of that frame has all four numbers, each equal to the snapshot it came from."""

from __future__ import annotations

import math
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.registry import REGISTRY
from fleetscope.digest.transform import payload_rows
from fleetscope.model.headline import (
    DEVICE_LABEL,
    HEADLINE_SERIES,
    LOOPBACK_DEVICES,
    MOUNTPOINT_LABEL,
    NETWORK_TRAFFIC,
)
from fleetscope.model.payload import AgentInfo, HostIdentity, Payload, Snapshot
from fleetscope.model.series import split_series_key
from fleetscope.query.headline import HeadlinePlan

AT = datetime(2026, 12, 1, tzinfo=UTC)
LIVE_PAGE_SIZE = 4096  # live/t0/meta.json


def _live_snapshot(fixtures_dir: Path, tmp_path: Path) -> Snapshot:
    """cpu, memory and network as the agent builds them, on the live capture's /proc at t0 and
    then t1 (10 s later: rates need two readings), and filesystem on node_exporter's tree (the
    live capture has no mounts)."""
    root = tmp_path / "host"
    shutil.copytree(fixtures_dir / "live" / "t0" / "proc", root / "proc")
    (root / "sys").mkdir()
    context = CollectorContext(
        ProcFS(root / "proc", page_size=LIVE_PAGE_SIZE), SysFS(root / "sys"), root, "linux"
    )
    collectors = {name: REGISTRY[name].factory(context) for name in ("cpu", "memory", "network")}
    for collector in collectors.values():
        collector.collect()
    # Written over t0 in place: ProcFS may keep the files open.
    t1 = fixtures_dir / "live" / "t1" / "proc"
    for source in t1.rglob("*"):
        if source.is_file():
            (root / "proc" / source.relative_to(t1)).write_bytes(source.read_bytes())
    sections = {REGISTRY[name].section: c.collect() for name, c in collectors.items()}
    tree = fixtures_dir / "node_exporter" / "tree"
    tree_context = CollectorContext(ProcFS(tree / "proc"), SysFS(tree / "sys"), tree, "linux")
    sections["filesystem"] = REGISTRY["filesystem"].factory(tree_context).collect()
    return Snapshot(timestamp=AT, **sections)


def test_the_headline_series_are_what_the_agent_sends(fixtures_dir: Path, tmp_path: Path) -> None:
    snapshot = _live_snapshot(fixtures_dir, tmp_path)
    payload = Payload(
        schema_version=1,
        batch_id=uuid.uuid4(),
        agent=AgentInfo(version="test"),
        host=HostIdentity(machine_id="m-live", hostname="live"),
        snapshots=[snapshot],
    )
    [frame] = payload_rows(1, payload).frames
    present = [
        split_series_key(key)
        for key, value in zip(frame.series, frame.values, strict=True)
        if value is not None
    ]
    names = {name for name, _ in present}
    assert names >= HEADLINE_SERIES, HEADLINE_SERIES - names
    assert any(MOUNTPOINT_LABEL in labels for name, labels in present if name in HEADLINE_SERIES)
    traffic = [labels[DEVICE_LABEL] for name, labels in present if name in NETWORK_TRAFFIC]
    assert set(traffic) & LOOPBACK_DEVICES and set(traffic) - LOOPBACK_DEVICES

    values = [math.nan if v is None else v for v in frame.values]
    headline = HeadlinePlan.of(frame.series).headline(values)
    assert snapshot.cpu is not None and snapshot.memory is not None
    assert snapshot.network is not None and snapshot.filesystem is not None
    assert headline.cpu_percent == snapshot.cpu.utilization_percent is not None
    memory = snapshot.memory
    assert memory.used_bytes is not None and memory.total_bytes
    assert headline.memory_percent == 100 * memory.used_bytes / memory.total_bytes
    rates = [
        rate
        for i in snapshot.network.interfaces
        if i.device not in LOOPBACK_DEVICES
        for rate in (i.receive_bytes_per_second, i.transmit_bytes_per_second)
        if rate is not None
    ]
    assert rates and headline.network_bytes_per_second == sum(rates)
    fullest = max(
        100 * m.used_bytes / (m.used_bytes + m.avail_bytes)
        for m in snapshot.filesystem.mounts
        if not m.readonly
        and m.used_bytes is not None
        and m.avail_bytes is not None
        and m.used_bytes + m.avail_bytes > 0
    )
    assert headline.disk_percent == fullest
