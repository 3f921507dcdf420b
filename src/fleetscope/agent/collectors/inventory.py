"""Inventory: what the host is (OS, kernel, CPU, memory, firmware, GPUs, drives, network
interfaces, logged-in users, battery, printers, kernel modules), for audit.

The section is sent when the agent starts, whenever its content changes, and at least once every
24 h; on every other cycle collect() returns None (a success with nothing to send). Reading it
spawns lpstat and walks sysfs, so the content is gathered at most every CHECK_INTERVAL_SECONDS
rather than every cycle; a change shows up within that interval.

Each part fails alone: an error in one leaves that field None with a debug log. Battery charge
and time left change by the minute, so they are left out of the change digest (a new charge
level alone does not resend the inventory; it travels with the next send).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import platform
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import msgspec
import psutil

from fleetscope import __version__
from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.identity import hostname, read_machine_id
from fleetscope.agent.linux.parsers.osrelease import OS_RELEASE_FILES, parse_os_release
from fleetscope.model.codec import convert, to_builtins
from fleetscope.model.inventory import (
    BatteryInventory,
    CpuInventory,
    DmiInventory,
    DriveInventory,
    GpuInventory,
    InventorySection,
    KernelModuleInventory,
    MemoryModule,
    NetworkInterfaceInventory,
    OsInventory,
    PartitionInventory,
    PrinterInventory,
    UserSession,
)

log = logging.getLogger(__name__)

RESEND_SECONDS = 24 * 3600
CHECK_INTERVAL_SECONDS = 300.0
LPSTAT_TIMEOUT_SECONDS = 5.0
_VOLATILE = {"battery": {"percent", "seconds_left"}}
# psutil has no sensors_battery on some platforms (e.g. older Windows builds of psutil).
_SENSORS_BATTERY: Callable[[], Any] | None = getattr(psutil, "sensors_battery", None)


def load_nvml() -> ModuleType | None:
    """nvidia-ml-py's `pynvml`, or None when it is not installed (it is an optional extra)."""
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        log.debug("NVML bindings not installed: %s", exc)
        return None


def nvml_gpus(nvml: Any) -> list[GpuInventory]:
    """NVIDIA GPUs through NVML. Raises when NVML cannot start (no driver); the caller treats
    that as no NVML."""
    nvml.nvmlInit()
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append(
                GpuInventory(
                    pci_address=_pci_address(_text(nvml.nvmlDeviceGetPciInfo(handle).busId)),
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    memory_total_bytes=nvml.nvmlDeviceGetMemoryInfo(handle).total,
                    driver_version=driver,
                    uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                )
            )
        return gpus
    finally:
        nvml.nvmlShutdown()


def _text(value: object) -> str:
    # Older pynvml releases return bytes, newer ones str.
    return value.decode() if isinstance(value, bytes) else str(value)


def _pci_address(bus_id: str) -> str:
    # NVML writes an 8-digit PCI domain (00000000:01:00.0); sysfs writes 4 (0000:01:00.0).
    return bus_id.lower()[-12:]


def run_lpstat() -> str | None:
    """`lpstat -p` output, or None where CUPS' client is not installed or does not answer."""
    lpstat = shutil.which("lpstat")
    if lpstat is None:
        log.debug("lpstat not found: printers unknown")
        return None
    try:
        done = subprocess.run(
            [lpstat, "-p"],
            capture_output=True,
            text=True,
            timeout=LPSTAT_TIMEOUT_SECONDS,
            env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("lpstat failed: %s", exc)
        return None
    if done.returncode != 0:
        # Also what lpstat answers with "No destinations added"; unknown is the honest reading.
        log.debug("lpstat exited %d: %s", done.returncode, done.stderr.strip())
        return None
    return done.stdout


def parse_lpstat_printers(text: str) -> list[PrinterInventory]:
    """`lpstat -p` lines: `printer NAME is idle.  enabled since ...` or `printer NAME disabled
    since ...` (CUPS systemv/lpstat.c, in the C locale)."""
    printers = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "printer":
            printers.append(PrinterInventory(name=words[1], enabled="disabled" not in words[2:4]))
    return printers


class InventoryCollector:
    def __init__(
        self,
        context: CollectorContext,
        *,
        clock: Callable[[], float] = time.monotonic,
        nvml_loader: Callable[[], Any] = load_nvml,
        lpstat: Callable[[], str | None] = run_lpstat,
        net_if_addrs: Callable[[], dict[str, list[Any]]] = psutil.net_if_addrs,
        net_if_stats: Callable[[], dict[str, Any]] = psutil.net_if_stats,
        users: Callable[[], list[Any]] = psutil.users,
        sensors_battery: Callable[[], Any] | None = _SENSORS_BATTERY,
        virtual_memory: Callable[[], Any] = psutil.virtual_memory,
        machine: Callable[[], str] = platform.machine,
    ) -> None:
        self.context = context
        self._clock = clock
        self._nvml_loader = nvml_loader
        self._lpstat = lpstat
        self._net_if_addrs = net_if_addrs
        self._net_if_stats = net_if_stats
        self._users = users
        self._sensors_battery = sensors_battery
        self._virtual_memory = virtual_memory
        self._machine = machine
        self._last_digest: str | None = None
        self._last_sent = 0.0
        self._last_checked: float | None = None

    def _due(self, now: float) -> tuple[bool, bool]:
        """(check due, resend due) at `now`."""
        resend_due = self._last_digest is None or now - self._last_sent >= RESEND_SECONDS
        checked = self._last_checked
        return resend_due or checked is None or now - checked >= CHECK_INTERVAL_SECONDS, resend_due

    def may_block(self) -> bool:
        """Gathering runs lpstat and walks sysfs; between checks collect() returns at once."""
        return self._due(self._clock())[0]

    def collect(self) -> InventorySection | None:
        now = self._clock()
        check_due, resend_due = self._due(now)
        if not check_due:
            return None
        self._last_checked = now
        content = self.gather()
        digest = content_digest(content)
        if digest == self._last_digest and not resend_due:
            return None
        self._last_digest, self._last_sent = digest, now
        return InventorySection(content_sha256=digest, **content)

    def gather(self) -> dict[str, Any]:
        parts: dict[str, Callable[[], Any]] = {
            "agent_version": lambda: __version__,
            "hostname": lambda: hostname(self.context.rootfs),
            "machine_id": lambda: read_machine_id(self.context.rootfs),
            "os": self.os,
            "cpu": self.cpu,
            "memory_total_bytes": self.memory_total_bytes,
            "memory_modules": self.memory_modules,
            "dmi": self.dmi,
            "gpus": self.gpus,
            "drives": self.drives,
            "network_interfaces": self.network_interfaces,
            "users": self.users,
            "battery": self.battery,
            "printers": self.printers,
            "kernel_modules": self.kernel_modules,
        }
        content: dict[str, Any] = {}
        for name, read in parts.items():
            try:
                content[name] = read()
            except Exception as exc:  # noqa: BLE001 (one part fails alone, by design)
                log.debug("inventory part %s unavailable: %s", name, exc)
                content[name] = None
        return content

    def os(self) -> OsInventory:
        if not self.context.linux:
            return OsInventory(
                name=platform.system(),
                version=platform.version(),
                kernel=platform.release(),
                architecture=self._machine(),
            )
        fields: dict[str, str] = {}
        for relative in OS_RELEASE_FILES:
            path = self.context.rootfs / relative
            try:
                fields = parse_os_release(path.read_text(), f"/{relative}")
                break
            except FileNotFoundError:
                log.debug("%s not found", path)
        kernel: str | None
        try:
            kernel = self.context.procfs.kernel_release()
        except OSError as exc:
            log.debug("kernel release unavailable: %s", exc)
            kernel = platform.release()
        return OsInventory(
            id=fields.get("ID"),
            name=fields.get("NAME"),
            pretty_name=fields.get("PRETTY_NAME"),
            version=fields.get("VERSION"),
            version_id=fields.get("VERSION_ID"),
            kernel=kernel,
            architecture=self._machine(),
        )

    def cpu(self) -> CpuInventory:
        if not self.context.linux:
            return CpuInventory(
                model=platform.processor() or None,
                cores=psutil.cpu_count(logical=False),
                threads=psutil.cpu_count(logical=True),
            )
        info = self.context.procfs.cpuinfo()
        return CpuInventory(
            model=info.model_name,
            vendor=info.processors[0].vendor_id,
            packages=info.packages,
            cores=info.cores,
            threads=info.threads,
        )

    def memory_total_bytes(self) -> float:
        if self.context.linux:
            return self.context.procfs.meminfo().total_bytes
        return float(self._virtual_memory().total)

    def memory_modules(self) -> list[MemoryModule] | None:
        """EDAC's view of the DIMMs; None (unknown) without an EDAC driver. The DMI tables that
        describe every module need root (dmidecode), which the agent does not have."""
        if not self.context.linux:
            return None
        dimms = self.context.sysfs.edac_dimms()
        if not dimms:
            return None
        return [
            MemoryModule(label=d.label, location=d.location, size_bytes=d.size_bytes, type=d.type)
            for d in dimms
        ]

    def dmi(self) -> DmiInventory | None:
        if not self.context.linux:
            return None
        fields = self.context.sysfs.dmi()
        return DmiInventory(**fields) if any(fields.values()) else None

    def gpus(self) -> list[GpuInventory] | None:
        gpus: dict[str, GpuInventory] = {}
        if self.context.linux:
            for device in self.context.sysfs.pci_devices():
                if device.is_display:
                    gpus[device.address] = GpuInventory(
                        pci_address=device.address,
                        vendor_id=None if device.vendor_id is None else f"0x{device.vendor_id:04x}",
                        device_id=None if device.device_id is None else f"0x{device.device_id:04x}",
                        class_id=f"0x{device.class_id:06x}",
                    )
        nvml = self._nvml_loader()
        if nvml is not None:
            try:
                found = nvml_gpus(nvml)
            except Exception as exc:  # noqa: BLE001 (NVMLError without a driver: no NVML)
                log.debug("NVML unavailable: %s", exc)
                found = []
            for gpu in found:
                key = gpu.pci_address or gpu.uuid or str(len(gpus))
                known = gpus.get(key)
                extra = {
                    name: value
                    for name, value in msgspec.structs.asdict(gpu).items()
                    if value is not None and name != "pci_address"
                }
                gpus[key] = gpu if known is None else msgspec.structs.replace(known, **extra)
        if not gpus and not self.context.linux:
            return None  # nothing to look at without sysfs or NVML: unknown, not none
        return [gpus[k] for k in sorted(gpus)]

    def drives(self) -> list[DriveInventory] | None:
        if not self.context.linux:
            return None
        return [
            DriveInventory(
                name=d.name,
                model=d.model,
                serial=d.serial,
                size_bytes=d.size_bytes,
                rotational=d.rotational,
                removable=d.removable,
                partitions=[
                    PartitionInventory(name=p.name, size_bytes=p.size_bytes) for p in d.partitions
                ],
            )
            for d in self.context.sysfs.block_devices()
        ]

    def network_interfaces(self) -> list[NetworkInterfaceInventory]:
        stats = self._net_if_stats()
        interfaces = []
        for name, addresses in sorted(self._net_if_addrs().items()):
            mac = None
            ips = []
            for address in addresses:
                if address.family == psutil.AF_LINK:
                    mac = address.address
                elif address.family in (socket.AF_INET, socket.AF_INET6):
                    ips.append(address.address)
            stat = stats.get(name)
            speed = getattr(stat, "speed", 0) or None  # psutil reports 0 for "unknown"
            mtu = getattr(stat, "mtu", 0) or None
            interfaces.append(
                NetworkInterfaceInventory(
                    name=name, mac=mac, addresses=sorted(ips), speed_mbps=speed, mtu=mtu
                )
            )
        return interfaces

    def users(self) -> list[UserSession]:
        return [
            UserSession(
                name=u.name,
                terminal=u.terminal or None,
                host=u.host or None,
                started=None if not u.started else datetime.fromtimestamp(u.started, UTC),
            )
            for u in self._users()
        ]

    def battery(self) -> BatteryInventory | None:
        reading = None if self._sensors_battery is None else self._sensors_battery()
        if reading is None:
            return None
        seconds = reading.secsleft
        return BatteryInventory(
            percent=reading.percent,
            plugged=reading.power_plugged,
            # POWER_TIME_UNLIMITED (charging) and POWER_TIME_UNKNOWN are negative sentinels.
            seconds_left=seconds if seconds is not None and seconds >= 0 else None,
        )

    def printers(self) -> list[PrinterInventory] | None:
        text = self._lpstat()
        return None if text is None else parse_lpstat_printers(text)

    def kernel_modules(self) -> list[KernelModuleInventory] | None:
        if not self.context.linux:
            return None
        return [
            KernelModuleInventory(name=m.name, size_bytes=m.size_bytes, used_by=list(m.used_by))
            for m in sorted(self.context.procfs.modules(), key=lambda m: m.name)
        ]


def content_digest(content: dict[str, Any]) -> str:
    """SHA-256 of the content in canonical JSON, without the fields that change by the minute."""
    # Converted from its JSON form first so that numbers are floats wherever the schema says
    # float, as they were when these were pydantic models: the digest of unchanged content
    # stays the same across that upgrade (no spurious inventory change).
    section = InventorySection(content_sha256="0" * 64, **content)
    stable = to_builtins(convert(to_builtins(section), InventorySection))
    del stable["content_sha256"]
    for part, fields in _VOLATILE.items():
        if stable[part] is not None:
            for name in fields:
                del stable[part][name]
    canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def make_inventory_collector(context: CollectorContext) -> InventoryCollector:
    return InventoryCollector(context)
