"""Parsers for /sys/class/thermal/thermal_zone*/ and cooling_device*/.

Attributes: Documentation/driver-api/thermal/sysfs-api.rst.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

# `temp` is in millidegrees Celsius. node_exporter 1.5.0 (thermal_zone_linux.go) divides by
# 1000.0 (its hwmon collector multiplies by 0.001 instead); we divide, to agree exactly.
MILLIDEGREES_PER_DEGREE = 1000.0

THERMAL_ZONE_FILES = ("type", "temp", "policy", "mode")
COOLING_DEVICE_FILES = ("type", "cur_state", "max_state")


@dataclass(frozen=True, slots=True)
class ThermalZone:
    """`zone` is the number after thermal_zone (node_exporter's `zone` label)."""

    zone: str
    type: str
    temp_celsius: float
    policy: str | None
    mode: str | None  # "enabled"/"disabled"; absent on some drivers


@dataclass(frozen=True, slots=True)
class CoolingDevice:
    """`name` is the number after cooling_device; states are driver-defined steps."""

    name: str
    type: str
    cur_state: int
    max_state: int


def _source(kind: str, name: str, attribute: str) -> str:
    return f"/sys/class/thermal/{kind}{name}/{attribute}"


def _required(files: Mapping[str, str], kind: str, name: str, attribute: str) -> str:
    text = files.get(attribute)
    if text is None:
        raise ParseError(_source(kind, name, attribute), 0, "", f"no {attribute} file")
    return text.strip()


def _int(files: Mapping[str, str], kind: str, name: str, attribute: str) -> int:
    text = _required(files, kind, name, attribute)
    try:
        return int(text)
    except ValueError as exc:
        raise ParseError(_source(kind, name, attribute), 1, text, "not an integer") from exc


def parse_thermal_zone(zone: str, files: Mapping[str, str]) -> ThermalZone:
    """`files` maps the names in THERMAL_ZONE_FILES that could be read to their text."""
    policy = files.get("policy")
    mode = files.get("mode")
    return ThermalZone(
        zone=zone,
        type=_required(files, "thermal_zone", zone, "type"),
        temp_celsius=_int(files, "thermal_zone", zone, "temp") / MILLIDEGREES_PER_DEGREE,
        policy=None if policy is None else policy.strip(),
        mode=None if mode is None else mode.strip(),
    )


def parse_cooling_device(name: str, files: Mapping[str, str]) -> CoolingDevice:
    return CoolingDevice(
        name=name,
        type=_required(files, "cooling_device", name, "type"),
        cur_state=_int(files, "cooling_device", name, "cur_state"),
        max_state=_int(files, "cooling_device", name, "max_state"),
    )
