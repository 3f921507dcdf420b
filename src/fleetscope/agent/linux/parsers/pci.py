"""Parser for /sys/bus/pci/devices/<address>/{class,vendor,device} (drivers/pci/pci-sysfs.c):
hexadecimal ids such as `0x030000`, `0x10de`."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

PCI_FILES = ("class", "vendor", "device")
DISPLAY_CLASS = 0x03  # PCI base class 03h: display controllers (VGA, 3D, other)


@dataclass(frozen=True, slots=True)
class PciDevice:
    address: str
    class_id: int
    vendor_id: int | None
    device_id: int | None

    @property
    def is_display(self) -> bool:
        return self.class_id >> 16 == DISPLAY_CLASS


def _hex(files: dict[str, str], name: str, address: str) -> int | None:
    text = files.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text, 16)
    except ValueError as exc:
        raise ParseError(f"/sys/bus/pci/devices/{address}/{name}", 1, text, "not hex") from exc


def parse_pci_device(address: str, files: dict[str, str]) -> PciDevice | None:
    """None for a device without a class file (it cannot be classified)."""
    class_id = _hex(files, "class", address)
    if class_id is None:
        return None
    return PciDevice(
        address, class_id, _hex(files, "vendor", address), _hex(files, "device", address)
    )
