"""The agent's settings ([agent] table, FLEETSCOPE_* variables, command-line options)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, HttpUrl, SecretStr

from fleetscope.model.settings import FleetscopeSettings

# Loopback traffic is the host talking to itself; Debian's node_exporter package and telegraf's
# net input leave `lo` out by default too (upstream node_exporter has no default).
DEFAULT_NETWORK_DEVICE_EXCLUDE = r"^lo$"
# Partitions (their I/O is already in the whole disk's counters) and RAM, loop and floppy
# devices. node_exporter 1.8.0's default --collector.diskstats.device-exclude, which added
# `z?` for zram (CHANGELOG 1.8.0: "diskstats: Ignore zram devices on linux systems #2898"); 1.5.0
# (`prometheus-node-exporter --help`, Debian 1.5.0-1) has `^(ram|loop|...` and is otherwise
# the same. mmcblk0p1, dm-*, md*, sr0 and whole disks stay in.
DEFAULT_DISK_DEVICE_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from exc
    return pattern


Regex = Annotated[str, AfterValidator(_regex)]


def device_filter(pattern: str) -> re.Pattern[str] | None:
    """The compiled exclude pattern, or None for "" (exclude nothing). Patterns are searched,
    not matched, like node_exporter's regexp.MatchString, so anchor them."""
    return re.compile(pattern) if pattern else None


class AgentSettings(FleetscopeSettings):
    TOML_TABLE: ClassVar[str] = "agent"

    data_dir: Path = Path("data")
    server_url: HttpUrl | None = None
    api_key: SecretStr | None = None
    interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 10.0
    procfs: Path = Path("/proc")
    sysfs: Path = Path("/sys")
    rootfs: Path = Path("/")
    collectors: list[str] | None = Field(
        default=None, description="collector names to run; default: those enabled by default"
    )
    collector_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    upload_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    max_snapshots_per_upload: Annotated[int, Field(ge=1, le=10_000)] = 100
    network_device_exclude: Regex = Field(
        default=DEFAULT_NETWORK_DEVICE_EXCLUDE,
        description='network interfaces to leave out (regular expression; "" keeps all)',
    )
    network_tcp_states: bool = Field(
        default=True,
        description="count TCP connections per state by reading every socket in "
        "/proc/net/tcp and tcp6 (about 10 ms per cycle with many connections); the cheap "
        "in-use, time-wait, orphan and established counts are always collected",
    )
    disk_device_exclude: Regex = Field(
        default=DEFAULT_DISK_DEVICE_EXCLUDE,
        description='block devices to leave out (regular expression; "" keeps all); the '
        "default drops partitions and ram, zram, loop and floppy devices like node_exporter",
    )
