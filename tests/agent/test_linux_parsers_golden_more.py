"""diskstats, netdev, vmstat, filefd, pressure, sockstat, netstat, cpuinfo, cpufreq, hwmon and
thermal_zone against Debian node_exporter 1.5.0's scrape of the shared fixture trees.

Each test turns our parser output into node_exporter's series and asserts that the set of
series equals the set node_exporter reported for that collector (so nothing is missing and
nothing is compared vacuously) and that every value is == (no approx): units are converted in
our parsers with node_exporter's own arithmetic. Rules that are node_exporter's collector
policy, not parsing (device filters, field regexes, metric naming), are re-stated here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from fleetscope.agent.linux.parsers.cpuinfo import CpuInfo
from fleetscope.agent.linux.parsers.diskstats import SECTOR_BYTES, DiskStats
from fleetscope.agent.linux.parsers.hwmon import HwmonChip, clean_name
from fleetscope.agent.linux.parsers.netdev import NetDevStats
from fleetscope.agent.linux.parsers.sockstat import SockStat
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from tests.fixture_links import materialize_links
from tests.golden import SampleKey, key, load_expected

TREES = ("node_exporter", "procfs")
Samples = dict[SampleKey, float]

# The page size of the machine that produced expected_metrics.txt (README quirk 7: sockstat
# *_mem_bytes uses the scraping host's page size). TCP mem 1 -> TCP_mem_bytes 4096 shows it.
FIXTURE_PAGE_SIZE = 4096


def _expected(fixtures_dir: Path, tree: str) -> Samples:
    return load_expected(fixtures_dir / tree / "expected_metrics.txt")


def _collector_ran(expected: Samples, collector: str) -> bool:
    return expected.get(key("node_scrape_collector_success", collector=collector)) == 1.0


def _compare(ours: Samples, expected: Samples, families: Callable[[str], bool]) -> int:
    """Assert our series equal node_exporter's for the selected families; return the count."""
    wanted = {k: v for k, v in expected.items() if families(k[0])}
    assert wanted, "node_exporter reported nothing for these families: the test compares nothing"
    missing = wanted.keys() - ours.keys()
    extra = ours.keys() - wanted.keys()
    assert not missing, f"series node_exporter has and we lack: {sorted(missing)[:10]}"
    assert not extra, f"series we produce and node_exporter lacks: {sorted(extra)[:10]}"
    wrong = {k: (ours[k], v) for k, v in wanted.items() if ours[k] != v}
    assert not wrong, f"values differ (ours, node_exporter): {wrong}"
    return len(wanted)


def _in(names: Iterable[str]) -> Callable[[str], bool]:
    chosen = frozenset(names)
    return lambda name: name in chosen


# --- symlinks -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sys_trees(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    parts = {
        "node_exporter": (
            "class/hwmon",
            "class/thermal",
            "devices/platform",
            "devices/virtual/thermal",
            "devices/system/cpu",
        ),
        "procfs": ("devices/system/cpu",),
    }
    trees = {}
    for tree, wanted in parts.items():
        target = tmp_path_factory.mktemp(f"{tree}-sys")
        trees[tree] = materialize_links(fixtures_dir / tree / "tree" / "sys", target, wanted)
    return trees


def test_materialize_restores_the_links_node_exporter_saw(sys_trees: dict[str, Path]) -> None:
    hwmon0 = sys_trees["node_exporter"] / "class/hwmon/hwmon0"
    assert hwmon0.is_symlink()
    assert (hwmon0 / "device").resolve().name == "coretemp.0"
    assert (sys_trees["procfs"] / "devices/system/cpu/cpu0/cpufreq").is_symlink()


# --- /proc ----------------------------------------------------------------------------------

# node_exporter 1.5.0's default --collector.diskstats.device-exclude.
DISK_EXCLUDE = re.compile(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
DISK_SERIES: dict[str, Callable[[DiskStats], float | None]] = {
    "node_disk_reads_completed_total": lambda d: d.reads_completed_total,
    "node_disk_reads_merged_total": lambda d: d.reads_merged_total,
    "node_disk_read_bytes_total": lambda d: d.read_bytes_total,
    "node_disk_read_time_seconds_total": lambda d: d.read_time_seconds_total,
    "node_disk_writes_completed_total": lambda d: d.writes_completed_total,
    "node_disk_writes_merged_total": lambda d: d.writes_merged_total,
    "node_disk_written_bytes_total": lambda d: d.written_bytes_total,
    "node_disk_write_time_seconds_total": lambda d: d.write_time_seconds_total,
    "node_disk_io_now": lambda d: d.io_in_progress,
    "node_disk_io_time_seconds_total": lambda d: d.io_time_seconds_total,
    "node_disk_io_time_weighted_seconds_total": lambda d: d.io_time_weighted_seconds_total,
    "node_disk_discards_completed_total": lambda d: d.discards_completed_total,
    "node_disk_discards_merged_total": lambda d: d.discards_merged_total,
    # node_exporter keeps this one in sectors (README quirk 6); we store bytes.
    "node_disk_discarded_sectors_total": lambda d: (
        None if d.discarded_bytes_total is None else d.discarded_bytes_total // SECTOR_BYTES
    ),
    "node_disk_discard_time_seconds_total": lambda d: d.discard_time_seconds_total,
    "node_disk_flush_requests_total": lambda d: d.flush_requests_total,
    "node_disk_flush_requests_time_seconds_total": lambda d: d.flush_time_seconds_total,
}


def disk_samples(disks: dict[str, DiskStats]) -> Samples:
    ours: Samples = {}
    for name, disk in disks.items():
        if DISK_EXCLUDE.match(name):
            continue
        for metric, get in DISK_SERIES.items():
            value = get(disk)
            if value is not None:
                ours[key(metric, device=name)] = value
    return ours


@pytest.mark.parametrize("tree", TREES)
def test_diskstats_matches_node_exporter(fixtures_dir: Path, tree: str) -> None:
    expected = _expected(fixtures_dir, tree)
    assert _collector_ran(expected, "diskstats")
    disks = ProcFS(fixtures_dir / tree / "tree" / "proc").diskstats()
    assert _compare(disk_samples(disks), expected, _in(DISK_SERIES)) > 0
    # node_disk_info's model/serial/wwn/path labels come from the udev database, not from
    # /proc/diskstats; its device/major/minor labels are ours to get right.
    info = [dict(labels) for name, labels in expected if name == "node_disk_info"]
    assert info
    for labels in info:
        disk = disks[labels["device"]]
        assert (str(disk.major), str(disk.minor)) == (labels["major"], labels["minor"])
    assert len(info) == sum(1 for name in disks if not DISK_EXCLUDE.match(name))


def test_diskstats_generations_in_fixture(fixtures_dir: Path) -> None:
    disks = ProcFS(fixtures_dir / "node_exporter" / "tree" / "proc").diskstats()
    assert disks["sda"].discards_completed_total is None  # 14 fields: kernel < 4.18
    assert disks["sdb"].discards_completed_total == 68851  # 18 fields
    assert disks["sdb"].flush_requests_total is None
    assert disks["sdc"].flush_requests_total == 1555  # 20 fields: 5.5+
    assert disks["sdb"].discarded_bytes_total == 1925173784 * 512


NETDEV_COUNTERS = tuple(
    f"{direction}_{name}"
    for direction, names in (
        ("receive", ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed")),
        ("receive", ("multicast",)),
        ("transmit", ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier")),
        ("transmit", ("compressed",)),
    )
    for name in names
)


def netdev_samples(devices: dict[str, NetDevStats]) -> Samples:
    return {
        key(f"node_network_{counter}_total", device=name): getattr(dev, f"{counter}_total")
        for name, dev in devices.items()
        for counter in NETDEV_COUNTERS
    }


def test_netdev_matches_node_exporter(fixtures_dir: Path) -> None:
    # Only the procfs tree: node_exporter's own tree has no proc/net/dev (README quirk 1).
    expected = _expected(fixtures_dir, "procfs")
    assert _collector_ran(expected, "netdev")
    devices = ProcFS(fixtures_dir / "procfs" / "tree" / "proc").net_dev()
    families = {f"node_network_{c}_total" for c in NETDEV_COUNTERS}
    assert len(NETDEV_COUNTERS) == 16
    assert _compare(netdev_samples(devices), expected, _in(families)) == 16 * 4


# node_exporter 1.5.0's default --collector.vmstat.fields.
VMSTAT_FIELDS = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")


def test_vmstat_matches_node_exporter(fixtures_dir: Path) -> None:
    expected = _expected(fixtures_dir, "node_exporter")
    assert _collector_ran(expected, "vmstat")
    vmstat = ProcFS(fixtures_dir / "node_exporter" / "tree" / "proc").vmstat()
    ours: Samples = {
        key(f"node_vmstat_{name}"): value
        for name, value in vmstat.by_name.items()
        if VMSTAT_FIELDS.match(name)
    }
    assert _compare(ours, expected, lambda n: n.startswith("node_vmstat_")) == 7
    assert vmstat.oom_kills_total == vmstat.by_name["oom_kill"]
    swap = ProcFS(fixtures_dir / "node_exporter" / "tree" / "proc").vmstat_swap()
    assert swap.swapped_in_pages_total == vmstat.swapped_in_pages_total is not None
    assert swap.swapped_out_pages_total == vmstat.swapped_out_pages_total is not None
    assert vmstat.paged_in_bytes_total == vmstat.by_name["pgpgin"] * 1024
    assert vmstat.major_page_faults_total == 507162
    assert len(vmstat.by_name) == 120  # every line, not only the exported ones


def test_filefd_matches_node_exporter(fixtures_dir: Path) -> None:
    expected = _expected(fixtures_dir, "node_exporter")
    assert _collector_ran(expected, "filefd")
    file_nr = ProcFS(fixtures_dir / "node_exporter" / "tree" / "proc").file_nr()
    ours = {
        key("node_filefd_allocated"): file_nr.allocated,
        key("node_filefd_maximum"): file_nr.maximum,
    }
    assert _compare(ours, expected, lambda n: n.startswith("node_filefd_")) == 2


def pressure_samples(procfs: ProcFS) -> Samples:
    ours: Samples = {}
    for resource in ("cpu", "io", "memory"):
        psi = procfs.pressure(resource)
        ours[key(f"node_pressure_{resource}_waiting_seconds_total")] = (
            psi.some.stalled_seconds_total
        )
        # 1.5.0 ignores cpu's `full` line (README quirk 8).
        if resource != "cpu":
            assert psi.full is not None
            ours[key(f"node_pressure_{resource}_stalled_seconds_total")] = (
                psi.full.stalled_seconds_total
            )
    return ours


@pytest.mark.parametrize("tree", TREES)
def test_pressure_matches_node_exporter(fixtures_dir: Path, tree: str) -> None:
    expected = _expected(fixtures_dir, tree)
    assert _collector_ran(expected, "pressure")
    ours = pressure_samples(ProcFS(fixtures_dir / tree / "tree" / "proc"))
    assert _compare(ours, expected, lambda n: n.startswith("node_pressure_")) == 5


def sockstat_samples(stats: Iterable[SockStat]) -> Samples:
    fields = {
        "inuse": "in_use",
        "orphan": "orphan",
        "tw": "time_wait",
        "alloc": "alloc",
        "mem": "mem_pages",
        "mem_bytes": "mem_bytes",
        "memory": "frag_memory_bytes",
    }
    ours: Samples = {}
    for stat in stats:
        if stat.sockets_used is not None:
            ours[key("node_sockstat_sockets_used")] = stat.sockets_used
        for protocol, counts in stat.protocols.items():
            for name, attribute in fields.items():
                value = getattr(counts, attribute)
                if value is not None:
                    ours[key(f"node_sockstat_{protocol}_{name}")] = value
    return ours


@pytest.mark.parametrize("tree", TREES)
def test_sockstat_matches_node_exporter(fixtures_dir: Path, tree: str) -> None:
    expected = _expected(fixtures_dir, tree)
    assert _collector_ran(expected, "sockstat")
    procfs = ProcFS(fixtures_dir / tree / "tree" / "proc", page_size=FIXTURE_PAGE_SIZE)
    ours = sockstat_samples([procfs.sockstat(), procfs.sockstat6()])
    assert _compare(ours, expected, lambda n: n.startswith("node_sockstat_")) > 0


# node_exporter 1.5.0's default --collector.netstat.fields.
NETSTAT_FIELDS = re.compile(
    r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)"
    r"|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)"
    r"|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)"
    r"|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
)


def netstat_samples(procfs: ProcFS) -> Samples:
    groups = dict(procfs.snmp().by_group)
    groups.update(procfs.netstat())
    for name, value in procfs.snmp6().items():
        # node_exporter splits "Udp6InDatagrams" after the first '6' into Udp6 + InDatagrams.
        six = name.index("6")
        groups.setdefault(name[: six + 1], {})[name[six + 1 :]] = value
    return {
        key(f"node_netstat_{group}_{name}"): value
        for group, values in groups.items()
        for name, value in values.items()
        if NETSTAT_FIELDS.match(f"{group}_{name}")
    }


def test_netstat_matches_node_exporter(fixtures_dir: Path) -> None:
    expected = _expected(fixtures_dir, "node_exporter")
    assert _collector_ran(expected, "netstat")
    procfs = ProcFS(fixtures_dir / "node_exporter" / "tree" / "proc")
    ours = netstat_samples(procfs)
    assert _compare(ours, expected, lambda n: n.startswith("node_netstat_")) > 0
    tcp = procfs.snmp().tcp
    assert tcp is not None
    assert tcp.curr_estab == expected[key("node_netstat_Tcp_CurrEstab")]


def cpu_info_labels(info: CpuInfo) -> set[frozenset[tuple[str, str]]]:
    return {
        frozenset(
            {
                "cpu": str(p.processor),
                "vendor": p.vendor_id or "",
                "family": p.cpu_family or "",
                "model": p.model or "",
                "model_name": p.model_name or "",
                "stepping": p.stepping or "",
                "microcode": p.microcode or "",
                "cachesize": p.cache_size or "",
                "core": str(p.core_id),
                "package": str(p.physical_id),
            }.items()
        )
        for p in info.processors
    }


def test_cpuinfo_matches_node_exporter(fixtures_dir: Path) -> None:
    expected = _expected(fixtures_dir, "node_exporter")
    info = ProcFS(fixtures_dir / "node_exporter" / "tree" / "proc").cpuinfo()
    theirs = {labels for name, labels in expected if name == "node_cpu_info"}
    assert len(theirs) == 8
    assert cpu_info_labels(info) == theirs
    # The flag and bug series are filtered by include regexes; each must be one of ours.
    flags = {dict(labels)["flag"] for name, labels in expected if name == "node_cpu_flag_info"}
    bugs = {dict(labels)["bug"] for name, labels in expected if name == "node_cpu_bug_info"}
    assert flags and flags <= info.processors[0].flags
    assert bugs and bugs <= info.processors[0].bugs
    assert (info.threads, info.cores, info.packages) == (8, 4, 1)


# --- /sys -----------------------------------------------------------------------------------

CPUFREQ_SERIES = {
    "node_cpu_frequency_hertz": "hardware_current_hz",
    "node_cpu_frequency_min_hertz": "hardware_min_hz",
    "node_cpu_frequency_max_hertz": "hardware_max_hz",
    "node_cpu_scaling_frequency_hertz": "scaling_current_hz",
    "node_cpu_scaling_frequency_min_hertz": "scaling_min_hz",
    "node_cpu_scaling_frequency_max_hertz": "scaling_max_hz",
}


@pytest.mark.parametrize("tree", TREES)
def test_cpufreq_matches_node_exporter(
    fixtures_dir: Path, sys_trees: dict[str, Path], tree: str
) -> None:
    expected = _expected(fixtures_dir, tree)
    assert _collector_ran(expected, "cpufreq")
    ours: Samples = {}
    for cpu, freq in SysFS(sys_trees[tree]).cpufreq().items():
        for metric, attribute in CPUFREQ_SERIES.items():
            value = getattr(freq, attribute)
            if value is not None:
                ours[key(metric, cpu=str(cpu))] = value
    assert _compare(ours, expected, _in(CPUFREQ_SERIES)) > 0


def test_thermal_zone_matches_node_exporter(fixtures_dir: Path, sys_trees: dict[str, Path]) -> None:
    expected = _expected(fixtures_dir, "node_exporter")
    assert _collector_ran(expected, "thermal_zone")
    sysfs = SysFS(sys_trees["node_exporter"])
    ours: Samples = {}
    for zone in sysfs.thermal_zones():
        ours[key("node_thermal_zone_temp", zone=zone.zone, type=zone.type)] = zone.temp_celsius
    for device in sysfs.cooling_devices():
        # A `name` label cannot go through key(name, **labels); build the key directly.
        labels = frozenset({"name": device.name, "type": device.type}.items())
        ours[("node_cooling_device_cur_state", labels)] = device.cur_state
        ours[("node_cooling_device_max_state", labels)] = device.max_state
    families = {
        "node_thermal_zone_temp",
        "node_cooling_device_cur_state",
        "node_cooling_device_max_state",
    }
    assert _compare(ours, expected, _in(families)) == 3


# The name suffix node_exporter 1.5.0 appends for each unit our parser assigns.
_HWMON_UNIT_SUFFIX = {
    "volts": "_volts",
    "celsius": "_celsius",
    "amps": "_amps",
    "joules": "_joule_total",
    "watts": "_watt",
    "seconds": "_seconds",
    "rpm": "_rpm",
    "ratio": "",
    None: "",
}


def _hwmon_series(kind: str, prop: str, bare: bool, value: float, unit: str | None) -> tuple:
    """node_exporter 1.5.0's name and value for one reading (hwmon_linux.go updateHwmon)."""
    name = f"node_hwmon_{kind}"
    if prop == "input":
        name += "_input" if bare else ""
    elif prop:
        name += "_" + clean_name(prop)
    if prop in ("alarm", "fault"):
        return name, value
    if prop == "beep":
        return name + "_enabled", value
    if unit is None and kind in ("in", "cpu", "temp", "curr") and prop != "type":
        # It scales 0/1 states like crit_alarm as milli-units of the sensor kind; we keep
        # them unitless, so apply its arithmetic here.
        suffix = {"in": "_volts", "cpu": "_volts", "temp": "_celsius", "curr": "_amps"}[kind]
        return name + suffix, value * 0.001
    return name + _HWMON_UNIT_SUFFIX[unit], value


def hwmon_samples(chips: list[HwmonChip]) -> Samples:
    ours: Samples = {}
    for chip in chips:
        if chip.chip_name is not None:
            ours[key("node_hwmon_chip_names", chip=chip.chip, chip_name=chip.chip_name)] = 1
        if chip.beep_enabled is not None:
            ours[key("node_hwmon_beep_enabled", chip=chip.chip, sensor="beep_enable0")] = (
                1.0 if chip.beep_enabled else 0.0
            )
        for sensor in chip.sensors.values():
            labels = {"chip": chip.chip, "sensor": sensor.sensor}
            if sensor.label is not None:
                ours[key("node_hwmon_sensor_label", label=sensor.label, **labels)] = 1
            bare = "" in sensor.readings
            for prop, reading in sensor.readings.items():
                name, value = _hwmon_series(sensor.kind, prop, bare, reading.value, reading.unit)
                ours[key(name, **labels)] = value
    return ours


def test_hwmon_matches_node_exporter(fixtures_dir: Path, sys_trees: dict[str, Path]) -> None:
    expected = _expected(fixtures_dir, "node_exporter")
    assert _collector_ran(expected, "hwmon")
    chips = SysFS(sys_trees["node_exporter"]).hwmon()
    assert {c.chip for c in chips} == {
        "platform_coretemp_0",
        "platform_coretemp_1",
        "platform_applesmc_768",
        "nct6779",
        "hwmon4",
    }
    compared = _compare(hwmon_samples(chips), expected, lambda n: n.startswith("node_hwmon_"))
    assert compared > 100
    coretemp = next(c for c in chips if c.chip == "platform_coretemp_0")
    core0 = coretemp.sensors["temp2"]
    assert (core0.label, core0.input, core0.unit, core0.crit) == ("Core 0", 54.0, "celsius", 100.0)
    fans = next(c for c in chips if c.chip == "platform_applesmc_768").sensors
    assert "safe" not in fans["fan1"].readings  # empty file: no number, not an error
