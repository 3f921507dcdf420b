"""Parser for /sys/devices/system/cpu/cpuN/cpufreq/ (per-CPU frequency scaling).

Attributes: Documentation/admin-guide/pm/cpufreq.rst. cpuN/cpufreq is a symlink to the
policyM directory that governs it, so CPUs sharing a policy show the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

# cpufreq writes every frequency in kHz.
HZ_PER_KHZ = 1000

# The files this parser reads; SysFS reads only these.
CPUFREQ_FILES = (
    "cpuinfo_cur_freq",
    "cpuinfo_min_freq",
    "cpuinfo_max_freq",
    "scaling_cur_freq",
    "scaling_min_freq",
    "scaling_max_freq",
    "scaling_governor",
    "scaling_driver",
)


@dataclass(frozen=True, slots=True)
class CpuFreq:
    """Frequencies in Hz. Each is None when its file is absent or unreadable: cpuinfo_cur_freq
    is root-only (mode 0400) on most drivers and missing on intel_pstate, and a CPU without a
    driver has no cpufreq directory at all."""

    cpu: int
    hardware_current_hz: int | None  # cpuinfo_cur_freq: what the hardware reports
    hardware_min_hz: int | None
    hardware_max_hz: int | None
    scaling_current_hz: int | None  # scaling_cur_freq: the governor's last request or estimate
    scaling_min_hz: int | None
    scaling_max_hz: int | None
    governor: str | None
    driver: str | None


def parse_cpufreq(cpu: int, files: Mapping[str, str]) -> CpuFreq:
    """`files` maps the names in CPUFREQ_FILES that could be read to their text."""

    def hz(name: str) -> int | None:
        text = files.get(name)
        if text is None:
            return None
        try:
            return int(text.strip()) * HZ_PER_KHZ
        except ValueError as exc:
            source = f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/{name}"
            raise ParseError(source, 1, text.strip(), "frequency is not an integer") from exc

    def word(name: str) -> str | None:
        text = files.get(name)
        return None if text is None else text.strip()

    return CpuFreq(
        cpu=cpu,
        hardware_current_hz=hz("cpuinfo_cur_freq"),
        hardware_min_hz=hz("cpuinfo_min_freq"),
        hardware_max_hz=hz("cpuinfo_max_freq"),
        scaling_current_hz=hz("scaling_cur_freq"),
        scaling_min_hz=hz("scaling_min_freq"),
        scaling_max_hz=hz("scaling_max_freq"),
        governor=word("scaling_governor"),
        driver=word("scaling_driver"),
    )
