"""Parser for /sys/devices/system/edac/mc/mc<N>/dimm<M>/ (drivers/edac/edac_mc_sysfs.c, kernel
3.6+): one memory module per directory, readable without root. `size` is in MiB."""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

BYTES_PER_MIB = 1024 * 1024
DIMM_FILES = ("size", "dimm_label", "dimm_location", "dimm_mem_type")


@dataclass(frozen=True, slots=True)
class Dimm:
    label: str | None
    location: str | None
    size_bytes: int | None
    type: str | None


def parse_dimm(files: dict[str, str], source: str) -> Dimm:
    size_text = files.get("size", "").strip()
    try:
        size = int(size_text) * BYTES_PER_MIB if size_text else None
    except ValueError as exc:
        raise ParseError(f"{source}/size", 1, size_text, "not an integer") from exc
    return Dimm(
        label=files.get("dimm_label", "").strip() or None,
        location=" ".join(files.get("dimm_location", "").split()) or None,
        size_bytes=size,
        type=files.get("dimm_mem_type", "").strip() or None,
    )
