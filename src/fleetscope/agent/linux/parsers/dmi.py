"""Parser for /sys/class/dmi/id/* (drivers/firmware/dmi-id.c): one SMBIOS string per file.

Serials and the product UUID are mode 0400 (root only), so an unprivileged agent usually sees
them as absent. Firmware pads strings with spaces and leaves unset ones empty; both are
stripped, and an empty string is absent (None), as node_exporter's dmi collector trims them.
"""

from __future__ import annotations

# Our field name -> the sysfs file (the kernel calls the system vendor `sys_vendor`).
DMI_FIELDS: dict[str, str] = {
    "bios_vendor": "bios_vendor",
    "bios_version": "bios_version",
    "bios_date": "bios_date",
    "board_vendor": "board_vendor",
    "board_name": "board_name",
    "board_version": "board_version",
    "board_serial": "board_serial",
    "system_vendor": "sys_vendor",
    "product_family": "product_family",
    "product_name": "product_name",
    "product_version": "product_version",
    "product_serial": "product_serial",
    "product_uuid": "product_uuid",
    "chassis_vendor": "chassis_vendor",
    "chassis_serial": "chassis_serial",
}
DMI_FILES = tuple(DMI_FIELDS.values())


def parse_dmi(files: dict[str, str]) -> dict[str, str | None]:
    """`files` maps sysfs file names to their text; files missing from it are absent."""
    parsed: dict[str, str | None] = {}
    for field, name in DMI_FIELDS.items():
        value = files.get(name, "").strip()
        parsed[field] = value or None
    return parsed
