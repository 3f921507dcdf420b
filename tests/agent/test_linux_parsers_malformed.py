"""Every parser rejects malformed input with a ParseError naming the file, the line and the
text, and reads optional fields as None."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleetscope.agent.linux.errors import ParseError
from fleetscope.agent.linux.parsers.cpufreq import parse_cpufreq
from fleetscope.agent.linux.parsers.cpuinfo import parse_cpuinfo
from fleetscope.agent.linux.parsers.diskstats import parse_diskstats
from fleetscope.agent.linux.parsers.filenr import parse_file_nr
from fleetscope.agent.linux.parsers.hwmon import hwmon_chip, parse_hwmon_chip, split_attribute
from fleetscope.agent.linux.parsers.netdev import parse_net_dev
from fleetscope.agent.linux.parsers.pressure import parse_pressure
from fleetscope.agent.linux.parsers.snmp import parse_netstat, parse_snmp, parse_snmp6
from fleetscope.agent.linux.parsers.sockets import parse_socket_table
from fleetscope.agent.linux.parsers.sockstat import parse_sockstat
from fleetscope.agent.linux.parsers.thermal import parse_cooling_device, parse_thermal_zone
from fleetscope.agent.linux.parsers.vmstat import parse_vmstat, parse_vmstat_swap

DISK_OK = "   8       0 sda 1 2 3 4 5 6 7 8 0 10 11\n"
NETDEV_HEAD = "Inter-|   Receive  |  Transmit\n face |bytes    packets|bytes\n"
SNMP_OK = (
    "Tcp: RtoAlgorithm ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs "
    "OutSegs RetransSegs InErrs OutRsts\nTcp: 1 2 3 4 5 6 7 8 9 10 11\n"
)
TCP_HEAD = "  sl  local_address rem_address   st tx_queue rx_queue\n"

CASES: list[tuple[str, Callable[[str], object], str, str, int]] = [
    # (id, parser, text, file named in the error, line named in the error)
    ("diskstats-short", parse_diskstats, DISK_OK + "8 1 sda1 1 2 3\n", "/proc/diskstats", 2),
    ("diskstats-19", parse_diskstats, "8 0 sda" + " 1" * 16 + "\n", "/proc/diskstats", 1),
    ("diskstats-text", parse_diskstats, DISK_OK.replace(" 5 ", " x "), "/proc/diskstats", 1),
    ("netdev-count", parse_net_dev, NETDEV_HEAD + "  lo: 1 2 3\n", "/proc/net/dev", 3),
    ("netdev-colon", parse_net_dev, NETDEV_HEAD + "lo" + " 1" * 16 + "\n", "/proc/net/dev", 3),
    ("netdev-text", parse_net_dev, NETDEV_HEAD + "lo:" + " x" * 16 + "\n", "/proc/net/dev", 3),
    ("vmstat-text", parse_vmstat, "nr_free_pages 1\npgfault many\n", "/proc/vmstat", 2),
    ("vmstat-fields", parse_vmstat, "nr_free_pages 1 2\n", "/proc/vmstat", 1),
    ("file-nr-count", parse_file_nr, "1024\t0\n", "/proc/sys/fs/file-nr", 1),
    ("file-nr-text", parse_file_nr, "1024\t0\tmax\n", "/proc/sys/fs/file-nr", 1),
    (
        "pressure-key",
        lambda t: parse_pressure(t, "/proc/pressure/io"),
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 total\n",
        "/proc/pressure/io",
        2,
    ),
    (
        "pressure-missing",
        lambda t: parse_pressure(t, "/proc/pressure/cpu"),
        "some avg10=0.00 avg60=0.00 total=1\n",
        "/proc/pressure/cpu",
        1,
    ),
    (
        "pressure-kind",
        lambda t: parse_pressure(t, "/proc/pressure/cpu"),
        "most avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
        "/proc/pressure/cpu",
        1,
    ),
    (
        "sockstat-pairs",
        lambda t: parse_sockstat(t, 4096),
        "sockets: used 5\nTCP: inuse 4 orphan\n",
        "/proc/net/sockstat",
        2,
    ),
    (
        "sockstat6-text",
        lambda t: parse_sockstat(t, 4096, "/proc/net/sockstat6"),
        "TCP6: inuse four\n",
        "/proc/net/sockstat6",
        1,
    ),
    ("snmp-count", parse_snmp, SNMP_OK.replace(" 11\n", "\n"), "/proc/net/snmp", 2),
    ("snmp-group", parse_snmp, SNMP_OK.replace("\nTcp: 1", "\nUdp: 1"), "/proc/net/snmp", 2),
    ("snmp-unpaired", parse_snmp, SNMP_OK + "Udp: InDatagrams\n", "/proc/net/snmp", 3),
    ("netstat-text", parse_netstat, "TcpExt: A B\nTcpExt: 1 b\n", "/proc/net/netstat", 2),
    ("snmp6-fields", parse_snmp6, "Ip6InReceives 7\nIp6InHdrErrors\n", "/proc/net/snmp6", 2),
    (
        "tcp-state",
        parse_socket_table,
        TCP_HEAD + "   0: 0100007F:0016 00000000:0000 ZZ 0:0\n",
        "/proc/net/tcp",
        2,
    ),
    (
        "udp6-short",
        lambda t: parse_socket_table(t, "/proc/net/udp6"),
        TCP_HEAD + "   0: 0100007F:0016\n",
        "/proc/net/udp6",
        2,
    ),
    ("cpuinfo-colon", parse_cpuinfo, "processor\t: 0\nmodel name AMD\n", "/proc/cpuinfo", 2),
    (
        "cpuinfo-int",
        parse_cpuinfo,
        "processor\t: 0\n\nprocessor\t: 1\ncore id\t: x\n",
        "/proc/cpuinfo",
        3,
    ),
    (
        "cpufreq-text",
        lambda t: parse_cpufreq(3, {"scaling_cur_freq": t}),
        "<unsupported>\n",
        "/sys/devices/system/cpu/cpu3/cpufreq/scaling_cur_freq",
        1,
    ),
    (
        "thermal-temp",
        lambda t: parse_thermal_zone("2", {"type": "acpitz\n", "temp": t}),
        "hot\n",
        "/sys/class/thermal/thermal_zone2/temp",
        1,
    ),
    (
        "cooling-state",
        lambda t: parse_cooling_device("0", {"type": "fan\n", "cur_state": t, "max_state": "3"}),
        "-\n",
        "/sys/class/thermal/cooling_device0/cur_state",
        1,
    ),
]


@pytest.mark.parametrize(
    ("parser", "text", "source", "line_no"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_input_names_file_and_line(
    parser: Callable[[str], object], text: str, source: str, line_no: int
) -> None:
    with pytest.raises(ParseError) as caught:
        parser(text)
    error = caught.value
    assert (error.source, error.line_no) == (source, line_no)
    assert str(error).startswith(f"{source}:{line_no}: ")


def test_missing_required_file_is_named() -> None:
    with pytest.raises(ParseError, match=r"^/sys/class/thermal/thermal_zone0/type:0: "):
        parse_thermal_zone("0", {"temp": "1000\n"})


def test_missing_required_counter_is_named() -> None:
    with pytest.raises(ParseError, match="no ActiveOpens counter"):
        parse_snmp("Tcp: CurrEstab\nTcp: 1\n")


def test_diskstats_old_kernel_has_no_discard_or_flush() -> None:
    disk = parse_diskstats(DISK_OK)["sda"]
    assert (disk.read_bytes_total, disk.read_time_seconds_total) == (3 * 512, 4 * 0.001)
    assert disk.discards_completed_total is None
    assert disk.discarded_bytes_total is None
    assert disk.flush_time_seconds_total is None


def test_pressure_cpu_without_full_line() -> None:
    psi = parse_pressure("some avg10=1.50 avg60=0.25 avg300=0.00 total=2500000\n")
    assert psi.full is None
    assert (psi.some.avg10_percent, psi.some.stalled_seconds_total) == (1.5, 2.5)


def test_vmstat_optional_counters_absent() -> None:
    vmstat = parse_vmstat("nr_free_pages 10\npgfault 7\n")
    assert vmstat.page_faults_total == 7
    assert vmstat.oom_kills_total is None  # kernels before 4.13
    assert vmstat.paged_in_bytes_total is None


def test_vmstat_swap_finds_only_its_two_lines() -> None:
    swap = parse_vmstat_swap("pswpin 3\nnr_pswpout_x 1\npswpout 4\n")
    assert (swap.swapped_in_pages_total, swap.swapped_out_pages_total) == (3, 4)
    assert parse_vmstat_swap("xpswpin 9\npgfault 1").swapped_in_pages_total is None  # no swap
    with pytest.raises(ParseError, match=r"/proc/vmstat:2: value is not an integer"):
        parse_vmstat_swap("pswpin 1\npswpout many\n")


def test_vmstat_swap_agrees_with_the_full_parser_on_this_host() -> None:
    if not Path("/proc/vmstat").exists():
        pytest.skip("no /proc/vmstat")
    text = Path("/proc/vmstat").read_text()
    full, swap = parse_vmstat(text), parse_vmstat_swap(text)
    assert swap.swapped_in_pages_total == full.swapped_in_pages_total
    assert swap.swapped_out_pages_total == full.swapped_out_pages_total


def test_netdev_name_touching_counters_and_alias() -> None:
    text = NETDEV_HEAD + "eth0:1" + " 2" * 15 + "\n" + " eth0:1:" + " 3" * 16 + "\n"
    devices = parse_net_dev(text)
    assert devices["eth0"].receive_bytes_total == 1
    assert devices["eth0"].transmit_compressed_total == 2
    assert devices["eth0:1"].receive_multicast_total == 3


def test_socket_table_counts_states() -> None:
    rows = [
        "   0: 00000000:0016 00000000:0000 0A 0:0",
        "   1: 0100007F:0016 0100007F:9C40 01 0:0",
        "   2: 0100007F:0016 0100007F:9C42 01 0:0",
        "   3: 0100007F:9C44 0100007F:0016 06 0:0",
        "   4: 0100007F:9C46 0100007F:0016 0D 0:0",
    ]
    table = parse_socket_table(TCP_HEAD + "\n".join(rows) + "\n")
    assert table.sockets == 5
    assert table.by_state == {"ESTABLISHED": 2, "TIME_WAIT": 1, "LISTEN": 1, "UNKNOWN_0x0D": 1}
    assert parse_socket_table(TCP_HEAD).sockets == 0


def test_sockstat_pages_become_bytes() -> None:
    stat = parse_sockstat("sockets: used 9\nTCP: inuse 1 orphan 0 tw 2 alloc 3 mem 5\n", 16384)
    tcp = stat.protocols["TCP"]
    assert (tcp.mem_pages, tcp.mem_bytes, tcp.time_wait) == (5, 5 * 16384, 2)
    assert stat.protocols["TCP"].frag_memory_bytes is None


def test_cpuinfo_arm64_has_features_and_no_topology() -> None:
    text = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\nprocessor\t: 1\n"
    info = parse_cpuinfo(text + "BogoMIPS\t: 50.00\nFeatures\t: fp asimd\n")
    assert info.threads == 2
    assert info.cores is None and info.packages is None and info.model_name is None
    assert info.processors[0].flags == frozenset({"fp", "asimd"})


def test_cpufreq_absent_files_are_none() -> None:
    freq = parse_cpufreq(0, {"scaling_cur_freq": "800000\n", "scaling_governor": "powersave\n"})
    assert (freq.scaling_current_hz, freq.governor) == (800_000_000, "powersave")
    assert freq.hardware_current_hz is None


def test_hwmon_attribute_names_and_chip_fallbacks() -> None:
    assert split_attribute("temp1_crit_alarm") == ("temp", 1, "crit_alarm")
    assert split_attribute("beep_enable") == ("beep_enable", 0, "")
    assert split_attribute("name") is None
    assert hwmon_chip("/sys/devices/pci0000:00/0000:00:18.3", "k10temp\n", "hwmon1") == (
        "pci0000:00_0000:00:18_3"
    )
    assert hwmon_chip(None, "acpitz\n", "hwmon0") == "acpitz"
    assert hwmon_chip(None, None, "hwmon7") == "hwmon7"
    with pytest.raises(ParseError):
        hwmon_chip(None, "\n", "___")


def test_hwmon_units_and_chip_attributes() -> None:
    chip = parse_hwmon_chip(
        "x",
        "x",
        {
            "in0_input": "1200\n",
            "curr1_input": "500\n",
            "power1_average": "15000000\n",
            "power1_average_interval": "1000\n",
            "energy1_input": "2000000\n",
            "temp1_crit_alarm": "1\n",
            "pwm1": "128\n",
            "beep_enable": "1\n",
            "update_interval": "2000\n",
        },
    )
    assert chip.sensors["in0"].input == 1200 * 0.001
    assert chip.sensors["in0"].unit == "volts"
    assert chip.sensors["curr1"].readings["input"].unit == "amps"
    assert chip.sensors["power1"].readings["average"].value == 15.0
    assert chip.sensors["power1"].readings["average_interval"].unit == "seconds"
    assert chip.sensors["energy1"].input == 2.0
    assert chip.sensors["temp1"].readings["crit_alarm"].unit is None
    assert chip.sensors["pwm1"].input == 128.0
    assert (chip.beep_enabled, chip.update_interval_seconds) == (True, 2.0)
