"""Parsers for /sys/block/<disk> (block/genhd.c, block/blk-sysfs.c): the disk's identity, size
and partitions.

`size` is always in 512-byte sectors whatever the device's logical block size (the kernel's
SECTOR_SIZE), so bytes are size x 512.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

SECTOR_BYTES = 512
# Relative to /sys/block/<disk>. device/serial exists for NVMe controllers and some USB and
# virtio disks; wwid (NVMe namespaces) and device/wwid (SCSI) are world-wide ids when not.
BLOCK_FILES = (
    "size",
    "removable",
    "queue/rotational",
    "device/model",
    "device/serial",
    "wwid",
    "device/wwid",
)


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    size_bytes: int | None


@dataclass(frozen=True, slots=True)
class BlockDevice:
    name: str
    model: str | None
    serial: str | None
    size_bytes: int | None
    rotational: bool | None
    removable: bool | None
    partitions: tuple[Partition, ...]


def _text(files: dict[str, str], name: str) -> str | None:
    value = files.get(name, "").strip()
    return value or None


def _int(files: dict[str, str], name: str, source: str) -> int | None:
    value = _text(files, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ParseError(f"{source}/{name}", 1, value, "not an integer") from exc


def _flag(files: dict[str, str], name: str, source: str) -> bool | None:
    value = _int(files, name, source)
    return None if value is None else value != 0


def sectors_to_bytes(text: str | None, source: str) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        return int(text.strip()) * SECTOR_BYTES
    except ValueError as exc:
        raise ParseError(source, 1, text.strip(), "size is not an integer") from exc


def parse_block_device(name: str, files: dict[str, str], partitions: dict[str, str]) -> BlockDevice:
    """`files` maps BLOCK_FILES names to text; `partitions` maps partition names to the text of
    their `size` files."""
    source = f"/sys/block/{name}"
    serial = _text(files, "device/serial") or _text(files, "wwid") or _text(files, "device/wwid")
    size = _int(files, "size", source)
    return BlockDevice(
        name=name,
        model=_text(files, "device/model"),
        serial=serial,
        size_bytes=None if size is None else size * SECTOR_BYTES,
        rotational=_flag(files, "queue/rotational", source),
        removable=_flag(files, "removable", source),
        partitions=tuple(
            Partition(part, sectors_to_bytes(text, f"{source}/{part}/size"))
            for part, text in sorted(partitions.items())
        ),
    )
