"""The hardware and software inventory a snapshot carries now and then (at start, on change and
at least daily): what the host is, for audit."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, field

from fleetscope.model.wire import Audit, AwareDatetime, NonNegative, Percent, Text


class OsInventory(Audit, frozen=True, kw_only=True):
    """os-release(5) fields, the running kernel and the machine architecture."""

    id: Text | None = None
    name: Text | None = None
    pretty_name: Text | None = None
    version: Text | None = None
    version_id: Text | None = None
    kernel: Text | None = None
    architecture: Text | None = None


class CpuInventory(Audit, frozen=True, kw_only=True):
    model: Text | None = None
    vendor: Text | None = None
    packages: Annotated[int, Meta(ge=0)] | None = None
    cores: Annotated[int, Meta(ge=0)] | None = None
    threads: Annotated[int, Meta(ge=0)] | None = None


class MemoryModule(Audit, frozen=True, kw_only=True):
    """A DIMM as the kernel's EDAC driver describes it (readable without root, unlike the DMI
    type 17 tables dmidecode reads)."""

    label: Text | None = None
    location: Text | None = None
    size_bytes: NonNegative | None = None
    type: Text | None = None


class DmiInventory(Audit, frozen=True, kw_only=True):
    """/sys/class/dmi/id fields; a field the firmware leaves empty or the agent may not read
    (serials and the UUID are root-only) is None."""

    bios_vendor: Text | None = None
    bios_version: Text | None = None
    bios_date: Text | None = None
    board_vendor: Text | None = None
    board_name: Text | None = None
    board_version: Text | None = None
    board_serial: Text | None = None
    system_vendor: Text | None = None
    product_family: Text | None = None
    product_name: Text | None = None
    product_version: Text | None = None
    product_serial: Text | None = None
    product_uuid: Text | None = None
    chassis_vendor: Text | None = None
    chassis_serial: Text | None = None


class GpuInventory(Audit, frozen=True, kw_only=True):
    """A display controller (PCI class 0x03xxxx); NVML adds name, memory and driver for NVIDIA
    GPUs when the driver and nvidia-ml-py are installed."""

    pci_address: Text | None = None
    vendor_id: Text | None = None  # "0x10de"
    device_id: Text | None = None
    class_id: Text | None = None
    name: Text | None = None
    memory_total_bytes: NonNegative | None = None
    driver_version: Text | None = None
    uuid: Text | None = None


class PartitionInventory(Audit, frozen=True, kw_only=True):
    name: Text
    size_bytes: NonNegative | None = None


class DriveInventory(Audit, frozen=True, kw_only=True):
    name: Text
    model: Text | None = None
    serial: Text | None = None
    size_bytes: NonNegative | None = None
    rotational: bool | None = None
    removable: bool | None = None
    partitions: list[PartitionInventory] = field(default_factory=list)


class NetworkInterfaceInventory(Audit, frozen=True, kw_only=True):
    name: Text
    mac: Text | None = None
    addresses: list[Text] = field(default_factory=list)
    speed_mbps: NonNegative | None = None  # None where the driver does not say (virtual NICs)
    mtu: Annotated[int, Meta(ge=0)] | None = None


class UserSession(Audit, frozen=True, kw_only=True):
    name: Text
    terminal: Text | None = None
    host: Text | None = None
    started: AwareDatetime | None = None


class BatteryInventory(Audit, frozen=True, kw_only=True):
    percent: Percent | None = None
    plugged: bool | None = None
    seconds_left: NonNegative | None = None  # None while charging or when unknown


class PrinterInventory(Audit, frozen=True, kw_only=True):
    name: Text
    enabled: bool | None = None


class KernelModuleInventory(Audit, frozen=True, kw_only=True):
    name: Text
    size_bytes: NonNegative
    used_by: list[Text] = field(default_factory=list)


class InventorySection(Audit, frozen=True, kw_only=True):
    """What the host is, for audit. Each part is None when it could not be read (that part
    failed alone) or does not apply; an empty list means there are none. `content_sha256`
    identifies the content, so the server can keep one row per version and a history."""

    content_sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
    agent_version: Text
    hostname: Text | None = None
    machine_id: Text | None = None
    os: OsInventory | None = None
    cpu: CpuInventory | None = None
    memory_total_bytes: NonNegative | None = None
    memory_modules: list[MemoryModule] | None = None
    dmi: DmiInventory | None = None
    gpus: list[GpuInventory] | None = None
    drives: list[DriveInventory] | None = None
    network_interfaces: list[NetworkInterfaceInventory] | None = None
    users: list[UserSession] | None = None
    battery: BatteryInventory | None = None
    printers: list[PrinterInventory] | None = None
    kernel_modules: list[KernelModuleInventory] | None = None
