"""Parser for /proc/cpuinfo (per-processor identity, topology and feature flags).

The file is a blank-line separated block of `key<TAB>: value` lines per logical CPU. Keys vary
by architecture (x86 arch/x86/kernel/cpu/proc.c; arm64 arch/arm64/kernel/cpuinfo.c writes
`Features` instead of `flags` and no `model name`), so everything but `processor` is optional.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetscope.agent.linux.errors import ParseError

_SOURCE = "/proc/cpuinfo"
HZ_PER_MHZ = 1_000_000


@dataclass(frozen=True, slots=True)
class Processor:
    processor: int
    vendor_id: str | None
    cpu_family: str | None
    model: str | None
    model_name: str | None
    stepping: str | None
    microcode: str | None
    cache_size: str | None  # as written ("8192 KB"); x86 reports the L2/L3 size it knows
    physical_id: int | None
    core_id: int | None
    siblings: int | None
    cpu_cores: int | None
    frequency_hz: float | None  # "cpu MHz" * 1e6; x86 only, and a snapshot
    flags: frozenset[str]  # x86 `flags`, arm64 `Features`
    bugs: frozenset[str]
    # Every key of the block as written, for the rare consumer that needs more.
    by_key: dict[str, str]


@dataclass(frozen=True, slots=True)
class CpuInfo:
    processors: tuple[Processor, ...]
    model_name: str | None  # the first processor's; None on architectures without one
    threads: int  # logical CPUs listed
    # Distinct (physical id, core id) pairs; None when the kernel does not print topology
    # (arm64, some VMs), where the caller should use sysfs topology instead.
    cores: int | None
    packages: int | None  # distinct physical ids, None likewise
    # Fields of a trailing block without `processor` (arm32's Hardware/Revision/Serial).
    machine: dict[str, str]


def _int(block: dict[str, str], key: str, line_no: int) -> int | None:
    value = block.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ParseError(_SOURCE, line_no, f"{key}: {value}", f"{key} is not an integer") from exc


def _processor(processor: int, block: dict[str, str], line_no: int) -> Processor:
    mhz = block.get("cpu MHz")
    try:
        frequency_hz = None if mhz is None else float(mhz) * HZ_PER_MHZ
    except ValueError as exc:
        raise ParseError(_SOURCE, line_no, f"cpu MHz: {mhz}", "cpu MHz is not a number") from exc
    flags = block.get("flags", block.get("Features", ""))
    return Processor(
        processor=processor,
        vendor_id=block.get("vendor_id"),
        cpu_family=block.get("cpu family"),
        model=block.get("model"),
        model_name=block.get("model name"),
        stepping=block.get("stepping"),
        microcode=block.get("microcode"),
        cache_size=block.get("cache size"),
        physical_id=_int(block, "physical id", line_no),
        core_id=_int(block, "core id", line_no),
        siblings=_int(block, "siblings", line_no),
        cpu_cores=_int(block, "cpu cores", line_no),
        frequency_hz=frequency_hz,
        flags=frozenset(flags.split()),
        bugs=frozenset(block.get("bugs", "").split()),
        by_key=block,
    )


def parse_cpuinfo(text: str) -> CpuInfo:
    blocks: list[tuple[int, dict[str, str]]] = []
    block: dict[str, str] = {}
    start = 1
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if block:
                blocks.append((start, block))
                block = {}
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ParseError(_SOURCE, line_no, line, "expected 'key : value'")
        if not block:
            start = line_no
        block[key.strip()] = value.strip()
    if block:
        blocks.append((start, block))
    processors = []
    for line_no, b in blocks:
        number = _int(b, "processor", line_no)
        if number is not None:
            processors.append(_processor(number, b, line_no))
    machine = {k: v for _, b in blocks if "processor" not in b for k, v in b.items()}
    if not processors:
        raise ParseError(_SOURCE, 0, text[:80], "no processor block")
    with_topology = [p for p in processors if p.physical_id is not None and p.core_id is not None]
    topology_known = len(with_topology) == len(processors)
    return CpuInfo(
        processors=tuple(processors),
        model_name=processors[0].model_name,
        threads=len(processors),
        cores=len({(p.physical_id, p.core_id) for p in processors}) if topology_known else None,
        packages=len({p.physical_id for p in processors}) if topology_known else None,
        machine=machine,
    )
