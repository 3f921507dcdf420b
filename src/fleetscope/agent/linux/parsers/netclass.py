"""Parser for the link attributes in /sys/class/net/<device>/ (operstate, carrier, speed, mtu).

Attributes: Documentation/ABI/testing/sysfs-class-net. Every one is optional: `carrier` and
`speed` answer EINVAL while the interface is down (net/core/net-sysfs.c), virtual devices
have no speed, and a container may not see the host's /sys at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

NET_CLASS_FILES = ("operstate", "carrier", "speed", "mtu")
# `speed` is in Mb/s (ethtool's SPEED_* constants, 10**6 bits per second).
BITS_PER_MEGABIT = 1_000_000


@dataclass(frozen=True, slots=True)
class NetClass:
    """None for an attribute that could not be read. `speed_bits_per_second` is also None for
    the kernel's SPEED_UNKNOWN (-1), which bonds, bridges and many virtual NICs report
    (node_exporter 1.5.0 exports that as node_network_speed_bytes -125000)."""

    device: str
    operstate: str | None
    carrier: bool | None
    speed_bits_per_second: int | None
    mtu_bytes: int | None


def _int(device: str, files: Mapping[str, str], attribute: str) -> int | None:
    text = files.get(attribute)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError as exc:
        source = f"/sys/class/net/{device}/{attribute}"
        raise ParseError(source, 1, text.strip(), "not an integer") from exc


def parse_net_class(device: str, files: Mapping[str, str]) -> NetClass:
    """`files` maps the names in NET_CLASS_FILES that could be read to their text."""
    operstate = files.get("operstate")
    carrier = _int(device, files, "carrier")
    speed = _int(device, files, "speed")
    return NetClass(
        device=device,
        operstate=None if operstate is None else operstate.strip(),
        carrier=None if carrier is None else carrier == 1,
        speed_bits_per_second=None if speed is None or speed < 0 else speed * BITS_PER_MEGABIT,
        mtu_bytes=_int(device, files, "mtu"),
    )
