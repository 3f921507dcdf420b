"""Inventory: node_exporter's fixture tree (DMI, os-release, cpuinfo agree with its dmi, os and
cpu info series), synthetic sysfs for drives/GPUs/DIMMs, injected psutil/NVML/lpstat fakes,
parts failing alone, the start/change/daily cadence on an injected clock, and this live host."""

from __future__ import annotations

import os
import platform
import shutil
from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from msgspec import Struct
from msgspec.structs import asdict

from fleetscope.agent.collectors.base import CollectorContext, CollectorSpec
from fleetscope.agent.collectors.inventory import (
    CHECK_INTERVAL_SECONDS,
    RESEND_SECONDS,
    InventoryCollector,
    parse_lpstat_printers,
)
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.runner import CollectorRunner
from fleetscope.model.inventory import InventorySection
from fleetscope.model.payload import Snapshot
from fleetscope.model.series import flatten_snapshot
from tests.golden import load_expected

Addr = namedtuple("Addr", "family address netmask broadcast ptp")
Stats = namedtuple("Stats", "isup duplex speed mtu")
User = namedtuple("User", "name terminal host started pid")
Battery = namedtuple("Battery", "percent secsleft power_plugged")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _quiet(context: CollectorContext, **overrides: Any) -> InventoryCollector:
    """A collector whose psutil, NVML and lpstat are fakes, so results do not depend on the host."""
    fakes: dict[str, Any] = {
        "nvml_loader": lambda: None,
        "lpstat": lambda: None,
        "net_if_addrs": lambda: {},
        "net_if_stats": lambda: {},
        "users": lambda: [],
        "sensors_battery": lambda: None,
        "machine": lambda: "x86_64",
    }
    fakes.update(overrides)
    return InventoryCollector(context, **fakes)


def _fixture_context(fixtures_dir: Path) -> CollectorContext:
    tree = fixtures_dir / "node_exporter" / "tree"
    return CollectorContext(ProcFS(tree / "proc"), SysFS(tree / "sys"), tree, platform="linux")


def test_fixture_tree_matches_node_exporter_dmi_os_and_cpu_info(fixtures_dir: Path) -> None:
    section = _quiet(_fixture_context(fixtures_dir)).collect()
    assert section is not None
    expected = load_expected(fixtures_dir / "node_exporter" / "expected_metrics.txt")
    infos = {name: dict(labels) for (name, labels) in expected if name.endswith("_info")}
    assert section.dmi is not None
    dmi = asdict(section.dmi)
    for field, value in infos["node_dmi_info"].items():
        if field in dmi:
            assert (dmi[field] or "") == value, field  # empty DMI strings are None for us
    assert set(dmi) <= set(infos["node_dmi_info"])  # every field of ours was compared
    os_info = infos["node_os_info"]
    assert section.os is not None
    assert (section.os.id, section.os.name, section.os.version_id) == (
        os_info["id"],
        os_info["name"],
        os_info["version_id"],
    )
    assert section.os.pretty_name == os_info["pretty_name"]
    cpu_infos = [dict(labels) for (name, labels) in expected if name == "node_cpu_info"]
    assert section.cpu is not None and section.cpu.threads == len(cpu_infos) == 8
    assert section.cpu.model == cpu_infos[0]["model_name"]
    assert section.cpu.vendor == cpu_infos[0]["vendor"]
    assert section.memory_total_bytes == 3742148 * 1024
    # The fixture has no proc/modules, sys/block or PCI class files: those parts say so.
    assert section.kernel_modules is None and section.drives == [] and section.gpus == []
    assert section.memory_modules is None  # mc0 has csrows but no dimm directories


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _synthetic_sys(tmp_path: Path) -> CollectorContext:
    sys_root = tmp_path / "sys"
    _write(
        sys_root,
        {
            # NVMe: serial on the controller, size in 512-byte sectors, two partitions.
            "block/nvme0n1/device/model": "Samsung SSD 980 PRO 1TB                 \n",
            "block/nvme0n1/device/serial": "S5GXNX0R123456    \n",
            "block/nvme0n1/size": "1953525168\n",
            "block/nvme0n1/removable": "0\n",
            "block/nvme0n1/queue/rotational": "0\n",
            "block/nvme0n1/nvme0n1p1/partition": "1\n",
            "block/nvme0n1/nvme0n1p1/size": "1048576\n",
            "block/nvme0n1/nvme0n1p2/partition": "2\n",
            "block/nvme0n1/nvme0n1p2/size": "1952474000\n",
            # SCSI disk: no serial file, a wwid instead; spinning.
            "block/sda/device/model": "ST4000DM004-2CV1\n",
            "block/sda/device/wwid": "t10.ATA     ST4000DM004-2CV1   ZFN0XXXX\n",
            "block/sda/size": "7814037168\n",
            "block/sda/queue/rotational": "1\n",
            # loop devices have no backing device: not drives.
            "block/loop0/size": "0\n",
            "bus/pci/devices/0000:00:02.0/class": "0x030000\n",
            "bus/pci/devices/0000:00:02.0/vendor": "0x8086\n",
            "bus/pci/devices/0000:00:02.0/device": "0x9a49\n",
            "bus/pci/devices/0000:01:00.0/class": "0x030200\n",
            "bus/pci/devices/0000:01:00.0/vendor": "0x10de\n",
            "bus/pci/devices/0000:01:00.0/device": "0x20b0\n",
            "bus/pci/devices/0000:00:1f.3/class": "0x040380\n",  # audio: not a GPU
            "bus/pci/devices/0000:00:1f.3/vendor": "0x8086\n",
            "devices/system/edac/mc/mc0/dimm0/size": "16384\n",
            "devices/system/edac/mc/mc0/dimm0/dimm_label": "CPU_SrcID#0_Ha#0_Chan#0_DIMM#0\n",
            "devices/system/edac/mc/mc0/dimm0/dimm_location": "channel 0 slot 0 \n",
            "devices/system/edac/mc/mc0/dimm0/dimm_mem_type": "Registered-DDR4\n",
        },
    )
    (sys_root / "block/nvme0n1/device").mkdir(exist_ok=True)
    (sys_root / "block/sda/device").mkdir(exist_ok=True)
    proc = tmp_path / "proc"
    _write(
        proc,
        {
            "modules": "nvidia 56823808 1 nvidia_modeset, Live 0x0 (POE)\n"
            "nvidia_modeset 1241088 0 - Live 0x0 (POE)\n",
            "sys/kernel/osrelease": "6.1.0-18-amd64\n",
        },
    )
    _write(tmp_path, {"etc/os-release": 'ID=debian\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'})
    return CollectorContext(ProcFS(proc), SysFS(sys_root), tmp_path, platform="linux")


class _FakeNvml:
    """pynvml's calls the collector makes, answering like a one-GPU host (old bytes API)."""

    def __init__(self, init_error: Exception | None = None) -> None:
        self.init_error = init_error
        self.shutdown = False

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.shutdown = True

    def nvmlSystemGetDriverVersion(self) -> bytes:
        return b"535.154.05"

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetPciInfo(self, handle: int) -> object:
        return SimpleNamespace(busId=b"00000000:01:00.0")

    def nvmlDeviceGetName(self, handle: int) -> str:
        return "NVIDIA A100-PCIE-40GB"

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> object:
        return SimpleNamespace(total=40 * 2**30, used=0, free=40 * 2**30)

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return "GPU-3c4d0f6a-0000-0000-0000-000000000000"


def test_synthetic_sysfs_drives_gpus_dimms_and_nvml(tmp_path: Path) -> None:
    nvml = _FakeNvml()
    section = _quiet(_synthetic_sys(tmp_path), nvml_loader=lambda: nvml).collect()
    assert section is not None
    drives = {d.name: d for d in section.drives or []}
    assert set(drives) == {"nvme0n1", "sda"}
    nvme = drives["nvme0n1"]
    assert nvme.model == "Samsung SSD 980 PRO 1TB" and nvme.serial == "S5GXNX0R123456"
    assert nvme.size_bytes == 1953525168 * 512 and nvme.rotational is False
    assert [(p.name, p.size_bytes) for p in nvme.partitions] == [
        ("nvme0n1p1", 1048576 * 512),
        ("nvme0n1p2", 1952474000 * 512),
    ]
    assert drives["sda"].serial == "t10.ATA     ST4000DM004-2CV1   ZFN0XXXX"
    assert drives["sda"].rotational is True and drives["sda"].removable is None
    gpus = {g.pci_address: g for g in section.gpus or []}
    assert set(gpus) == {"0000:00:02.0", "0000:01:00.0"}
    assert gpus["0000:00:02.0"].vendor_id == "0x8086" and gpus["0000:00:02.0"].name is None
    nvidia = gpus["0000:01:00.0"]
    assert nvidia.class_id == "0x030200" and nvidia.name == "NVIDIA A100-PCIE-40GB"
    assert nvidia.memory_total_bytes == 40 * 2**30 and nvidia.driver_version == "535.154.05"
    assert nvml.shutdown
    assert section.memory_modules is not None
    dimm = section.memory_modules[0]
    assert dimm.size_bytes == 16 * 2**30 and dimm.location == "channel 0 slot 0"
    assert dimm.type == "Registered-DDR4"
    assert section.os is not None and section.os.kernel == "6.1.0-18-amd64"
    assert section.os.name == "Debian GNU/Linux" and section.os.version_id == "12"
    assert [(m.name, m.used_by) for m in section.kernel_modules or []] == [
        ("nvidia", ["nvidia_modeset"]),
        ("nvidia_modeset", []),
    ]


def test_nvml_without_a_driver_is_no_nvml(tmp_path: Path) -> None:
    class NVMLError(Exception):
        pass

    nvml = _FakeNvml(init_error=NVMLError("Driver Not Loaded"))
    section = _quiet(_synthetic_sys(tmp_path), nvml_loader=lambda: nvml).collect()
    assert section is not None and section.gpus is not None
    assert [g.name for g in section.gpus] == [None, None]  # PCI ids only


def test_psutil_and_lpstat_fakes_and_parts_failing_alone(tmp_path: Path) -> None:
    def broken_users() -> list[object]:
        raise PermissionError("utmp unreadable")

    section = _quiet(
        _synthetic_sys(tmp_path),
        net_if_addrs=lambda: {
            "eth0": [
                Addr(17, "52:54:00:12:34:56", None, "ff:ff:ff:ff:ff:ff", None),
                Addr(2, "10.0.0.5", "255.255.255.0", "10.0.0.255", None),
                Addr(10, "fe80::5054:ff:fe12:3456%eth0", "ffff:ffff:ffff:ffff::", None, None),
            ],
            "lo": [Addr(2, "127.0.0.1", "255.0.0.0", None, None)],
        },
        net_if_stats=lambda: {"eth0": Stats(True, 2, 1000, 1500), "lo": Stats(True, 0, 0, 65536)},
        users=broken_users,
        sensors_battery=lambda: Battery(87.5, -2, True),
        lpstat=lambda: (
            "printer Office is idle.  enabled since Mon 01 Jan 2024\n"
            "printer Label disabled since Tue 02 Jan 2024 -\n\treason unknown\n"
        ),
    ).collect()
    assert section is not None
    eth0, lo = section.network_interfaces or []
    assert eth0.mac == "52:54:00:12:34:56" and eth0.speed_mbps == 1000 and eth0.mtu == 1500
    assert eth0.addresses == ["10.0.0.5", "fe80::5054:ff:fe12:3456%eth0"]
    assert lo.speed_mbps is None and lo.mac is None  # psutil's 0 means unknown
    assert section.users is None  # failed alone
    assert section.drives  # the others are still there
    assert section.battery is not None and section.battery.seconds_left is None  # unlimited
    assert section.battery.plugged is True and section.battery.percent == 87.5
    assert [(p.name, p.enabled) for p in section.printers or []] == [
        ("Office", True),
        ("Label", False),
    ]
    assert parse_lpstat_printers("") == []


def test_sent_at_start_on_change_and_daily(tmp_path: Path) -> None:
    clock = _Clock()
    sessions: list[object] = []
    battery = [Battery(50.0, 3600, False)]
    collector = _quiet(
        _synthetic_sys(tmp_path),
        clock=clock,
        users=lambda: list(sessions),
        sensors_battery=lambda: battery[0],
    )
    assert collector.may_block()  # gathering is due: run it in a worker
    first = collector.collect()
    assert first is not None  # at start
    clock.now += 10
    assert not collector.may_block()  # nothing to gather before the check interval
    assert collector.collect() is None  # not even gathered before the check interval
    clock.now += CHECK_INTERVAL_SECONDS
    assert collector.may_block()  # the check interval has passed
    battery[0] = Battery(49.0, 3500, False)
    assert collector.collect() is None  # unchanged, apart from the charge level
    sessions.append(User("alice", "pts/0", "10.0.0.9", 1_700_000_000.0, 4242))
    clock.now += CHECK_INTERVAL_SECONDS
    changed = collector.collect()
    assert changed is not None and changed.content_sha256 != first.content_sha256
    assert changed.users is not None and changed.users[0].started == datetime.fromtimestamp(
        1_700_000_000, UTC
    )
    clock.now += CHECK_INTERVAL_SECONDS
    assert collector.collect() is None
    clock.now += RESEND_SECONDS
    assert collector.may_block()
    daily = collector.collect()
    assert daily is not None and daily.content_sha256 == changed.content_sha256


class _Nothing:
    def collect(self) -> Struct | None:
        return None


def test_runner_counts_a_none_section_as_success(tmp_path: Path) -> None:
    context = CollectorContext(ProcFS(tmp_path), SysFS(tmp_path), tmp_path, platform="linux")
    runner = CollectorRunner(
        [CollectorSpec("inventory", "inventory", "", True, lambda _ctx: _Nothing())], context
    )
    snapshot = runner.collect()
    runner.close()
    assert snapshot.inventory is None
    assert [(s.name, s.success, s.error) for s in snapshot.collectors] == [
        ("inventory", True, None)
    ]


def test_inventory_is_not_flattened_into_series(tmp_path: Path) -> None:
    section = _quiet(_synthetic_sys(tmp_path)).collect()
    assert isinstance(section, InventorySection)
    snapshot = Snapshot(timestamp=datetime.now(UTC), inventory=section)
    assert flatten_snapshot(snapshot) == []


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="needs Linux /proc")
def test_live_host_sanity() -> None:
    context = CollectorContext(ProcFS("/proc"), SysFS("/sys"), Path("/"), platform="linux")
    collector = InventoryCollector(context, lpstat=lambda: None)
    section = collector.collect()
    assert section is not None
    assert section.os is not None and section.os.kernel == platform.release()
    assert section.cpu is not None and section.cpu.threads == os.cpu_count()
    assert section.memory_total_bytes is not None and section.memory_total_bytes > 0
    assert section.network_interfaces is not None and any(
        "127.0.0.1" in i.addresses for i in section.network_interfaces
    )
    if shutil.which("lpstat") is None:
        assert collector.printers() is None
    assert collector.collect() is None  # nothing new one moment later
