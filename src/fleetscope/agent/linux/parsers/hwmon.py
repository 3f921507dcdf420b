"""Parsers for /sys/class/hwmon/hwmon*/ (hardware sensors: temperatures, fans, voltages ...).

Attribute names and units: Documentation/hwmon/sysfs-interface.rst. Each file is
`<kind><index>_<property>` (temp1_input, fan2_min, in0_max, pwm1_enable). Many drivers put the
attributes in the parent device directory instead (applesmc), so the reader merges both, the
device directory last, as node_exporter 1.5.0's hwmon collector does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

# Scale factors, written as node_exporter 1.5.0 (hwmon_linux.go) applies them so that our
# values agree with it to the last bit: milli-units are multiplied by 0.001, micro-units
# divided by 1e6.
MILLI = 0.001  # mV, m°C, mA, ms
MICRO_DIVISOR = 1_000_000.0  # µW, µJ, and the ratio attributes (power accuracy, humidity)

# The kinds node_exporter reads; other files (name, uevent, subsystem ...) are not sensors.
SENSOR_KINDS = (
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
)

# `<kind><index>_<property>`; same expression as node_exporter's hwmonFilenameFormat, so a
# file is classified the same way (the kind is greedy: "beep_enable" has no index).
_ATTRIBUTE = re.compile(r"^(?P<kind>[^0-9]+)(?P<index>[0-9]*)?(_(?P<property>.+))?$")
_INVALID_NAME_CHARS = re.compile(r"[^a-z0-9:_]")
# Properties that are 0/1 states, not measurements: `alarm`, `crit_alarm`, `fault`, `beep`,
# `enable`. node_exporter scales `crit_alarm` like a temperature (it only special-cases the
# bare words); we keep them unitless.
_FLAG_SUFFIXES = ("alarm", "fault", "beep", "enable")
_CHIP_ATTRIBUTES = ("beep_enable", "vrm", "update_interval")


@dataclass(frozen=True, slots=True)
class HwmonReading:
    """One numeric attribute, converted. `unit` is "celsius", "volts", "amps", "watts",
    "joules", "rpm", "seconds", "ratio", or None for states, counts and raw register values
    (alarms, pwm duty 0-255, fan pulses)."""

    value: float
    unit: str | None


@dataclass(frozen=True, slots=True)
class HwmonSensor:
    """One sensor, e.g. temp1. input/min/max/crit repeat the readings of those properties
    (`input` falls back to the bare attribute, e.g. pwm1, which has no _input)."""

    sensor: str
    kind: str
    label: str | None  # the driver's label as written (trailing spaces kept), minus newline
    input: float | None
    min: float | None
    max: float | None
    crit: float | None
    unit: str | None
    # Every numeric attribute by property name ("" for the bare attribute, e.g. pwm1).
    # Non-numeric attributes (empty applesmc fan*_safe files) are left out, as node_exporter
    # does; they are not malformed, the driver simply has no number to give.
    readings: dict[str, HwmonReading]


@dataclass(frozen=True, slots=True)
class HwmonChip:
    chip: str  # stable name derived from the device path (node_exporter's `chip` label)
    chip_name: str | None  # the driver's `name` file, cleaned (node_exporter's `chip_name`)
    beep_enabled: bool | None
    vrm_version: float | None
    update_interval_seconds: float | None
    sensors: dict[str, HwmonSensor]


def clean_name(text: str) -> str:
    """Lower-case, anything outside [a-z0-9:_] to '_', trim '_' (node_exporter cleanMetricName)."""
    return _INVALID_NAME_CHARS.sub("_", text.lower()).strip("_")


def split_attribute(filename: str) -> tuple[str, int, str] | None:
    """(kind, index, property) for a sensor attribute file name, None for other files."""
    match = _ATTRIBUTE.match(filename)
    if match is None or match["kind"] not in SENSOR_KINDS:
        return None
    return match["kind"], int(match["index"] or 0), match["property"] or ""


def hwmon_chip(device_path: str | None, name_text: str | None, directory_name: str) -> str:
    """node_exporter's chip label: '<bus>_<device>' from the resolved `device` link (stable
    across module load order), else the cleaned `name` file, else the hwmonN directory name.

    `device_path` is the real path of hwmonN/device (None without one), `name_text` the
    content of hwmonN/name, `directory_name` the real hwmonN directory's name."""
    if device_path is not None:
        parent, _, device = device_path.rstrip("/").rpartition("/")
        bus = clean_name(parent.rpartition("/")[2])
        device = clean_name(device)
        if bus and device:
            return f"{bus}_{device}"
        if device:
            return device
    if name_text:
        cleaned = clean_name(name_text)
        if cleaned:
            return cleaned
    cleaned = clean_name(directory_name)
    if not cleaned:
        raise ParseError(f"/sys/class/hwmon/{directory_name}", 0, "", "no usable chip name")
    return cleaned


def _number(text: str) -> float | None:
    # Go's strconv.ParseFloat, which node_exporter uses, refuses surrounding blanks and
    # digit-group underscores that Python's float() would accept.
    if not text or text != text.strip() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


# kind -> (scale, unit); scale is "milli" (x 0.001), "micro" (/ 1e6) or "raw".
_KIND_RULES: dict[str, tuple[str, str | None]] = {
    "in": ("milli", "volts"),
    "cpu": ("milli", "volts"),  # cpu0_vid, the voltage the CPU asks for
    "temp": ("milli", "celsius"),
    "curr": ("milli", "amps"),
    "energy": ("micro", "joules"),
    "humidity": ("micro", "ratio"),
    "power": ("micro", "watts"),
}
_FAN_RPM = ("input", "min", "max", "target")


def _convert(kind: str, prop: str, raw: float) -> HwmonReading:
    if prop.endswith(_FLAG_SUFFIXES) or (kind == "temp" and prop == "type"):
        scale, unit = "raw", None
    elif kind == "power" and prop == "accuracy":
        scale, unit = "micro", "ratio"
    elif kind == "power" and prop.startswith("average_interval"):
        scale, unit = "milli", "seconds"
    elif kind == "fan":
        scale, unit = "raw", "rpm" if prop in _FAN_RPM else None
    else:
        scale, unit = _KIND_RULES.get(kind, ("raw", None))
    if scale == "milli":
        return HwmonReading(raw * MILLI, unit)
    if scale == "micro":
        return HwmonReading(raw / MICRO_DIVISOR, unit)
    return HwmonReading(raw, unit)


def parse_hwmon_chip(chip: str, chip_name: str | None, attributes: Mapping[str, str]) -> HwmonChip:
    """`attributes` maps attribute file names to their text (the hwmonN directory's files and
    then its device directory's, later ones winning). Files that are not sensor attributes
    are ignored."""
    texts: dict[str, dict[str, str]] = {}
    kinds: dict[str, str] = {}
    for filename, text in attributes.items():
        split = split_attribute(filename)
        if split is None:
            continue
        kind, index, prop = split
        sensor = f"{kind}{index}"
        kinds[sensor] = kind
        texts.setdefault(sensor, {})[prop] = text.strip("\n")

    beep = texts.pop("beep_enable0", {}).get("")
    vrm = texts.pop("vrm0", {}).get("")
    interval = texts.pop("update_interval0", {}).get("")
    interval_ms = None if interval is None else _number(interval)

    sensors: dict[str, HwmonSensor] = {}
    for sensor, props in texts.items():
        kind = kinds[sensor]
        if kind in _CHIP_ATTRIBUTES:
            continue  # e.g. "vrm1": not a layout the kernel documents
        readings: dict[str, HwmonReading] = {}
        for prop, text in props.items():
            if prop == "label":
                continue
            raw = _number(text)
            if raw is not None:
                readings[prop] = _convert(kind, prop, raw)
        main = readings.get("input", readings.get(""))

        def value(prop: str, readings: dict[str, HwmonReading] = readings) -> float | None:
            reading = readings.get(prop)
            return None if reading is None else reading.value

        sensors[sensor] = HwmonSensor(
            sensor=sensor,
            kind=kind,
            label=props.get("label"),
            input=None if main is None else main.value,
            min=value("min"),
            max=value("max"),
            crit=value("crit"),
            unit=None if main is None else main.unit,
            readings=readings,
        )
    return HwmonChip(
        chip=chip,
        chip_name=chip_name,
        beep_enabled=None if beep is None else beep == "1",
        vrm_version=None if vrm is None else _number(vrm),
        update_interval_seconds=None if interval_ms is None else interval_ms * MILLI,
        sensors=sensors,
    )


def hwmon_chip_name(name_text: str | None) -> str | None:
    """The cleaned `name` file (node_exporter's chip_name label), None if absent or empty."""
    if name_text is None:
        return None
    return clean_name(name_text) or None
