"""The only code in the Linux collectors that opens files under /sys.

`SysFS(root)` reads /sys under a root given as an argument (like procfs' NewFS(mountPoint)
and node_exporter's --path.sysfs), so the agent can watch a host mounted at /host/sys and
tests can point it at a fixture tree.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from pathlib import Path

from fleetscope.agent.linux.fileio import decode, mount_type, read_file, read_file_text
from fleetscope.agent.linux.kept_files import KeptFiles
from fleetscope.agent.linux.parsers.block import BLOCK_FILES, BlockDevice, parse_block_device
from fleetscope.agent.linux.parsers.cpufreq import CPUFREQ_FILES, CpuFreq, parse_cpufreq
from fleetscope.agent.linux.parsers.dmi import DMI_FILES, parse_dmi
from fleetscope.agent.linux.parsers.edac import DIMM_FILES, Dimm, parse_dimm
from fleetscope.agent.linux.parsers.hwmon import (
    HwmonChip,
    hwmon_chip,
    hwmon_chip_name,
    parse_hwmon_chip,
    split_attribute,
)
from fleetscope.agent.linux.parsers.netclass import NET_CLASS_FILES, NetClass, parse_net_class
from fleetscope.agent.linux.parsers.pci import PCI_FILES, PciDevice, parse_pci_device
from fleetscope.agent.linux.parsers.thermal import (
    COOLING_DEVICE_FILES,
    THERMAL_ZONE_FILES,
    CoolingDevice,
    ThermalZone,
    parse_cooling_device,
    parse_thermal_zone,
)

log = logging.getLogger(__name__)

# What /sys/class/net attributes answer when the value does not exist right now: EINVAL for
# carrier/speed/duplex of a down interface (net/core/net-sysfs.c), EOPNOTSUPP from drivers
# without ethtool link settings, ENODATA from some virtual drivers.
_NET_ATTRIBUTE_UNAVAILABLE = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENODATA})
_CPU_DIR = re.compile(r"^cpu([0-9]+)$")


def _numbered(directory: Path, prefix: str) -> list[tuple[str, Path]]:
    """(suffix, path) of the entries `<prefix><suffix>` in a directory, sorted like the kernel
    numbers them (thermal_zone2 before thermal_zone10).

    A missing class directory means the kernel has no such devices (VMs commonly have no
    /sys/class/hwmon), which is an empty answer, not an error."""
    if not directory.is_dir():
        log.debug("%s does not exist: no devices of this class", directory)
        return []
    entries = [
        (entry.name[len(prefix) :], Path(entry.path))
        for entry in os.scandir(directory)
        if entry.name.startswith(prefix)
    ]
    return sorted(entries, key=lambda item: (len(item[0]), item[0]))


class SysFS:
    def __init__(self, root: str | Path = "/sys", *, keep_open: bool = False) -> None:
        """`keep_open`: see kept_open."""
        self.root = Path(root)
        self._files = KeptFiles() if keep_open else None

    def kept_open(self) -> SysFS:
        """A SysFS over the same root whose net_class attribute files stay open between
        reads (KeptFiles: pread at offset 0 shows a sysfs attribute afresh, as it does a
        /proc file), for the network collector, which reads operstate and carrier of every
        interface every cycle. Only on a mounted sysfs: a fixture tree's files may be
        replaced between reads, so there this SysFS itself. Not to be shared between
        threads; forget_net_class when an interface is gone, and close()."""
        if mount_type(self.root) != "sysfs":
            return self
        return SysFS(self.root, keep_open=True)

    def forget_net_class(self, device: str) -> None:
        """Close the kept attribute files of an interface that is gone (a descriptor of a
        removed sysfs node only answers ENODEV; one of the same name that comes back is
        another node, opened afresh)."""
        if self._files is not None:
            self._files.forget(f"{self.root}/class/net/{device}/")

    def close(self) -> None:
        if self._files is not None:
            self._files.close()

    def read_text(self, relative: str) -> str:
        return read_file_text(f"{self.root}/{relative}")

    def _read_files(self, directory: Path, names: tuple[str, ...]) -> dict[str, str]:
        """The named files of a directory that can be read. Absent files are expected (each
        attribute depends on driver and kernel) and root-only ones (cpuinfo_cur_freq is
        0400) are as good as absent to an unprivileged agent."""
        texts: dict[str, str] = {}
        for name in names:
            try:
                texts[name] = read_file_text(f"{directory}/{name}")
            except (FileNotFoundError, PermissionError) as exc:
                log.debug("optional sysfs file %s unavailable: %s", directory / name, exc)
        return texts

    def net_class(self, device: str, attributes: tuple[str, ...] = NET_CLASS_FILES) -> NetClass:
        """Link attributes of one interface (those named; the others None); all None when
        /sys/class/net/<device> is not there (a container's /sys of another network
        namespace, a fixture without it)."""
        # A string path and os.path.isdir: pathlib's joins and is_dir were a third of the
        # cost of reading two attributes (this runs per interface per cycle).
        directory = f"{self.root}/class/net/{device}"
        files: dict[str, str] = {}
        kept = self._files
        # With kept files the directory check is left out: a missing directory makes every
        # attribute FileNotFoundError below, which gives the same all-None result.
        if kept is None and not os.path.isdir(directory):
            log.debug("%s does not exist: no link attributes for %s", directory, device)
            return parse_net_class(device, files)
        for name in attributes:
            try:
                path = f"{directory}/{name}"
                files[name] = decode(
                    read_file(path)
                    if kept is None
                    else kept.read(path, _NET_ATTRIBUTE_UNAVAILABLE, one_page=True)
                )
            except (FileNotFoundError, PermissionError) as exc:
                log.debug("optional sysfs file %s/%s unavailable: %s", directory, name, exc)
            except OSError as exc:
                if exc.errno not in _NET_ATTRIBUTE_UNAVAILABLE:
                    raise
                log.debug("%s/%s has no value now: %s", directory, name, exc)
        return parse_net_class(device, files)

    def cpufreq(self) -> dict[int, CpuFreq]:
        """Per CPU with a cpufreq directory (none on VMs without a cpufreq driver)."""
        cpu_dir = self.root / "devices/system/cpu"
        result: dict[int, CpuFreq] = {}
        for entry in os.scandir(cpu_dir):
            match = _CPU_DIR.match(entry.name)
            cpufreq_dir = Path(entry.path) / "cpufreq"
            if match is None or not cpufreq_dir.is_dir():
                continue
            cpu = int(match.group(1))
            result[cpu] = parse_cpufreq(cpu, self._read_files(cpufreq_dir, CPUFREQ_FILES))
        return dict(sorted(result.items()))

    def thermal_zones(self) -> list[ThermalZone]:
        zones = []
        for zone, path in _numbered(self.root / "class/thermal", "thermal_zone"):
            zones.append(parse_thermal_zone(zone, self._read_files(path, THERMAL_ZONE_FILES)))
        return zones

    def cooling_devices(self) -> list[CoolingDevice]:
        devices = []
        for name, path in _numbered(self.root / "class/thermal", "cooling_device"):
            files = self._read_files(path, COOLING_DEVICE_FILES)
            devices.append(parse_cooling_device(name, files))
        return devices

    def _hwmon_attributes(self, directory: Path, into: dict[str, str]) -> None:
        for entry in os.scandir(directory):
            if split_attribute(entry.name) is None or not entry.is_file():
                continue
            try:
                with open(entry.path, encoding="utf-8", errors="replace") as handle:
                    into[entry.name] = handle.read()
            except OSError as exc:
                # Drivers answer EIO/ENODATA/EAGAIN for sensors that are not wired or not
                # ready, and some attributes are write-only; the sensor is then just absent,
                # as in node_exporter, which skips any attribute it cannot read.
                log.debug("hwmon attribute %s unreadable: %s", entry.path, exc)

    def hwmon(self) -> list[HwmonChip]:
        chips = []
        for _, path in _numbered(self.root / "class/hwmon", "hwmon"):
            if not path.is_dir():
                continue
            device = path / "device"
            device_path = os.path.realpath(device) if device.exists() else None
            name_text = self._read_files(path, ("name",)).get("name")
            chip = hwmon_chip(device_path, name_text, Path(os.path.realpath(path)).name)
            attributes: dict[str, str] = {}
            self._hwmon_attributes(path, attributes)
            if device_path is not None:
                self._hwmon_attributes(Path(device_path), attributes)
            chips.append(parse_hwmon_chip(chip, hwmon_chip_name(name_text), attributes))
        return chips

    def dmi(self) -> dict[str, str | None]:
        """DMI identity strings; an unreadable or empty field is None."""
        return parse_dmi(self._read_files(self.root / "class/dmi/id", DMI_FILES))

    def block_devices(self) -> list[BlockDevice]:
        """Disks with a backing device (`device` link): physical and virtio disks, not loop,
        zram, ram, device-mapper or md devices, which have none."""
        block = self.root / "block"
        if not block.is_dir():
            log.debug("%s does not exist: no block devices", block)
            return []
        devices = []
        for entry in sorted(os.scandir(block), key=lambda e: e.name):
            path = Path(entry.path)
            if not (path / "device").exists():
                continue
            partitions = {
                sub.name: self._read_files(Path(sub.path), ("size",)).get("size", "")
                for sub in os.scandir(path)
                if sub.is_dir() and (Path(sub.path) / "partition").exists()
            }
            devices.append(
                parse_block_device(entry.name, self._read_files(path, BLOCK_FILES), partitions)
            )
        return devices

    def pci_devices(self) -> list[PciDevice]:
        devices_dir = self.root / "bus/pci/devices"
        if not devices_dir.is_dir():
            log.debug("%s does not exist: no PCI bus", devices_dir)
            return []
        devices = []
        for entry in sorted(os.scandir(devices_dir), key=lambda e: e.name):
            device = parse_pci_device(entry.name, self._read_files(Path(entry.path), PCI_FILES))
            if device is not None:
                devices.append(device)
        return devices

    def edac_dimms(self) -> list[Dimm]:
        """Memory modules the EDAC driver knows; empty without an EDAC driver (most VMs and
        desktops), in which case the caller reports the modules as unknown."""
        dimms = []
        for _, controller in _numbered(self.root / "devices/system/edac/mc", "mc"):
            for _, dimm in _numbered(controller, "dimm"):
                dimms.append(parse_dimm(self._read_files(dimm, DIMM_FILES), str(dimm)))
        return dimms
