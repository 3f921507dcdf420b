"""Network and disk collectors over ordered snapshots (telegraf-style proc0..N written into a
temp dir, with an injected clock), the psutil path with injected results, and a digest round
trip of both sections into the store."""

from __future__ import annotations

import errno
import os
import shutil
import sys
import uuid
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from fleetscope.agent.collectors.base import CollectorContext, device_filter
from fleetscope.agent.collectors.disk import (
    DEFAULT_DISK_DEVICE_EXCLUDE,
    LinuxDiskCollector,
    PsutilDiskCollector,
)
from fleetscope.agent.collectors.network import (
    DEFAULT_NETWORK_DEVICE_EXCLUDE,
    LinuxNetworkCollector,
    NetworkSettings,
    PsutilNetworkCollector,
)
from fleetscope.agent.linux.errors import ParseError
from fleetscope.agent.linux.kept_files import KeptFiles
from fleetscope.agent.linux.parsers.netclass import NET_CLASS_FILES
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.registry import REGISTRY
from fleetscope.agent.runner import CollectorRunner
from fleetscope.digest.transform import agent_payload_rows
from fleetscope.model.payload import (
    AgentInfo,
    DiskDevice,
    DiskSection,
    HostIdentity,
    NetworkInterface,
    NetworkSection,
    Payload,
    Snapshot,
)
from fleetscope.model.series import flatten_snapshot
from fleetscope.query.metrics import MetricQueries
from fleetscope.store import auth
from fleetscope.store.engine import make_engine, migrate, sqlite_url
from fleetscope.store.tables import hosts
from fleetscope.store.writer import StoreWriter
from tests.helpers import T0, payload_json

NETDEV_HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast"
    "|bytes    packets errs drop fifo colls carrier compressed\n"
)
# sl local remote st ... : two ESTABLISHED, one TIME_WAIT in tcp, one LISTEN in tcp6.
TCP = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    "   0: 0100007F:0016 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0\n"
    "   1: 0100007F:0016 0100007F:9C41 01 00000000:00000000 00:00000000 00000000     0\n"
    "   2: 0100007F:0016 0100007F:9C42 06 00000000:00000000 00:00000000 00000000     0\n"
)
TCP6 = (
    "  sl  local_address                         remote_address                        st\n"
    "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A\n"
)
SNMP = (
    "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails "
    "EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n"
    "Tcp: 1 200 120000 -1 10 20 0 0 2 100 100 0 0 0 0\n"
)


def _ticks(*times: float) -> Iterator[float]:
    return iter(times)


def _write_netdev(proc: Path, devices: dict[str, tuple[int, int, int, int]]) -> None:
    """devices: name -> (rx bytes, rx packets, tx bytes, tx packets); errors/drops fixed."""
    lines = "".join(
        f"{name:>6}: {rb} {rp} 1 2 0 0 0 0 {tb} {tp} 3 4 0 0 0 0\n"
        for name, (rb, rp, tb, tp) in devices.items()
    )
    (proc / "net" / "dev").write_text(NETDEV_HEADER + lines)


def _net_tree(tmp_path: Path) -> tuple[Path, Path]:
    proc, sys_ = tmp_path / "proc", tmp_path / "sys"
    (proc / "net").mkdir(parents=True)
    (proc / "net" / "sockstat").write_text(
        "sockets: used 10\nTCP: inuse 3 orphan 1 tw 1 alloc 5 mem 1\nUDP: inuse 2 mem 0\n"
    )
    (proc / "net" / "sockstat6").write_text("TCP6: inuse 1\nUDP6: inuse 4\n")
    (proc / "net" / "snmp").write_text(SNMP)
    (proc / "net" / "tcp").write_text(TCP)
    (proc / "net" / "tcp6").write_text(TCP6)
    links = {
        "eth0": {"operstate": "up", "carrier": "1", "speed": "1000", "mtu": "1500"},
        # A bridge: speed unknown (-1); carrier unreadable (absent here, EINVAL on a real one).
        "docker0": {"operstate": "down", "speed": "-1", "mtu": "1500"},
    }
    for device, files in links.items():
        directory = sys_ / "class" / "net" / device
        directory.mkdir(parents=True)
        for name, text in files.items():
            (directory / name).write_text(text + "\n")
    return proc, sys_


def test_network_rates_over_ordered_snapshots(tmp_path: Path) -> None:
    proc, sys_ = _net_tree(tmp_path)
    collector = LinuxNetworkCollector(
        ProcFS(proc),
        SysFS(sys_),
        device_filter("^lo$"),
        clock=lambda: next(ticks),
    )
    ticks = _ticks(100.0, 102.0, 104.0)

    # proc0: first sight, no rates; lo is excluded by the setting.
    _write_netdev(proc, {"lo": (9, 9, 9, 9), "eth0": (1000, 10, 500, 5), "wlan0": (1, 1, 1, 1)})
    first = collector.collect()
    assert [i.device for i in first.interfaces] == ["eth0", "wlan0"]
    eth0 = first.interfaces[0]
    assert eth0.receive_bytes_total == 1000 and eth0.receive_bytes_per_second is None
    assert (eth0.receive_errors_total, eth0.receive_drops_total) == (1, 2)
    assert (eth0.transmit_errors_total, eth0.transmit_drops_total) == (3, 4)
    assert (eth0.operstate, eth0.up, eth0.carrier) == ("up", True, True)
    assert eth0.speed_bits_per_second == 1e9 and eth0.mtu_bytes == 1500
    # wlan0 has no /sys/class/net entry here: link attributes absent, not zero.
    assert first.interfaces[1].up is None and first.interfaces[1].mtu_bytes is None
    assert first.tcp_connections_by_state is not None
    assert first.tcp_connections_by_state["ESTABLISHED"] == 2
    assert first.tcp_connections_by_state["TIME_WAIT"] == 1
    assert first.tcp_connections_by_state["LISTEN"] == 1
    assert first.tcp_connections_by_state["CLOSE_WAIT"] == 0  # every state, for stable series
    assert (first.tcp_in_use, first.tcp_time_wait, first.tcp_orphans) == (4, 1, 1)
    assert (first.tcp_curr_estab, first.udp_in_use) == (2, 6)

    # proc1, 2 s later: eth0 rates; wlan0 gone; docker0 appears without a rate.
    _write_netdev(proc, {"eth0": (3000, 30, 900, 9), "docker0": (50, 1, 0, 0)})
    second = collector.collect()
    assert [i.device for i in second.interfaces] == ["eth0", "docker0"]
    eth0 = second.interfaces[0]
    assert eth0.receive_bytes_per_second == 1000.0
    assert eth0.receive_packets_per_second == 10.0
    assert eth0.transmit_bytes_per_second == 200.0
    assert eth0.transmit_packets_per_second == 2.0
    assert eth0.receive_errors_per_second == 0.0 and eth0.transmit_drops_per_second == 0.0
    docker0 = second.interfaces[1]
    assert docker0.receive_bytes_per_second is None
    assert (docker0.operstate, docker0.up, docker0.carrier) == ("down", False, None)
    assert docker0.speed_bits_per_second is None  # -1 is SPEED_UNKNOWN, not -1 b/s

    # proc2: eth0's rx counters went down (driver reload or 32-bit wrap): no rate, never a
    # negative or huge one; tx still has its rate. docker0 now has one.
    _write_netdev(proc, {"eth0": (100, 1, 1300, 13), "docker0": (250, 3, 0, 0)})
    third = collector.collect()
    eth0, docker0 = third.interfaces
    assert eth0.receive_bytes_per_second is None and eth0.receive_packets_per_second is None
    assert eth0.transmit_bytes_per_second == 200.0
    assert docker0.receive_bytes_per_second == 100.0


def test_tcp_states_setting_off_skips_the_socket_walk(tmp_path: Path) -> None:
    proc, sys_ = _net_tree(tmp_path)
    _write_netdev(proc, {"eth0": (1, 1, 1, 1)})
    (proc / "net" / "tcp").write_text("this would not parse\n   0: x\n")
    (proc / "net" / "sockstat6").unlink()  # a kernel without IPv6
    section = LinuxNetworkCollector(ProcFS(proc), SysFS(sys_), None, tcp_states=False).collect()
    assert section.tcp_connections_by_state is None
    assert (section.tcp_in_use, section.udp_in_use) == (3, 2)  # IPv4 only


def test_factory_takes_filters_from_settings(tmp_path: Path) -> None:
    proc, sys_ = _net_tree(tmp_path)
    _write_netdev(proc, {"lo": (1, 1, 1, 1), "eth0": (1, 1, 1, 1)})
    settings = {"network": NetworkSettings(device_exclude="", tcp_states=False)}
    context = CollectorContext(ProcFS(proc), SysFS(sys_), tmp_path, "linux", settings)
    section = REGISTRY["network"].factory(context).collect()
    assert isinstance(section, NetworkSection)
    assert [i.device for i in section.interfaces] == ["lo", "eth0"]
    assert section.tcp_connections_by_state is None


def _diskstats_line(name: str, minor: int, c: tuple[int, ...]) -> str:
    """c: reads, read sectors, read ms, writes, write sectors, write ms, in flight, io ms,
    weighted ms; merges fixed, discard and flush columns fixed (a 5.5+ 20-field line)."""
    reads, rsec, rms, writes, wsec, wms, inflight, io_ms, weighted = c
    return (
        f"   8 {minor} {name} {reads} 7 {rsec} {rms} {writes} 9 {wsec} {wms} {inflight} "
        f"{io_ms} {weighted} 0 0 0 0 2 4\n"
    )


def _write_diskstats(proc: Path, disks: dict[str, tuple[int, ...]]) -> None:
    text = "".join(_diskstats_line(n, i, c) for i, (n, c) in enumerate(disks.items()))
    (proc / "diskstats").write_text(text)


def test_disk_rates_await_and_utilisation_over_ordered_snapshots(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    ticks = _ticks(0.0, 10.0, 20.0, 21.0)
    collector = LinuxDiskCollector(
        ProcFS(proc), device_filter(DEFAULT_DISK_DEVICE_EXCLUDE), clock=lambda: next(ticks)
    )
    idle = (0, 0, 0, 0, 0, 0, 0, 0, 0)
    # proc0: partitions, loop and zram are excluded; first sight has counters, no rates.
    _write_diskstats(
        proc,
        {
            "sda": (100, 800, 200, 50, 400, 300, 1, 400, 900),
            "sda1": idle,
            "loop0": idle,
            "zram0": idle,
            "nvme0n1p1": idle,
            "sdb": idle,
        },
    )
    first = collector.collect()
    assert [d.device for d in first.devices] == ["sda", "sdb"]
    sda = first.devices[0]
    assert (sda.reads_completed_total, sda.read_bytes_total) == (100, 800 * 512)
    assert sda.read_time_seconds_total == pytest.approx(0.2)
    assert sda.io_in_progress == 1 and sda.flush_requests_total == 2
    assert sda.read_iops is None and sda.utilization_percent is None and sda.await_seconds is None

    # proc1, 10 s later. sda: +200 reads taking +1.0 s, +100 writes taking +1.5 s, +2000
    # sectors read, +400 written, busy +5.0 s. By hand: read_iops 200/10 = 20, write_iops 10,
    # read 2000*512/10 = 102400 B/s, written 400*512/10 = 20480 B/s, read await 1.0/200 =
    # 5 ms, write await 1.5/100 = 15 ms, await (1.0+1.5)/(200+100) = 8.33 ms, util 5/10 = 50 %.
    # sdb is gone; nvme0n1 appears without rates.
    _write_diskstats(
        proc,
        {
            "sda": (300, 2800, 1200, 150, 800, 1800, 0, 5400, 9000),
            "nvme0n1": (5, 5, 5, 5, 5, 5, 0, 5, 5),
        },
    )
    second = collector.collect()
    assert [d.device for d in second.devices] == ["sda", "nvme0n1"]
    sda = second.devices[0]
    assert sda.read_iops == 20.0 and sda.write_iops == 10.0
    assert sda.read_bytes_per_second == 102400.0 and sda.written_bytes_per_second == 20480.0
    assert sda.read_await_seconds == pytest.approx(0.005, rel=1e-12)
    assert sda.write_await_seconds == pytest.approx(0.015, rel=1e-12)
    assert sda.await_seconds == pytest.approx(2.5 / 300, rel=1e-12)
    assert sda.utilization_percent == pytest.approx(50.0, rel=1e-12)
    assert second.devices[1].read_iops is None

    # proc2: sda's counters reset (reads and read time went down): no read rate or await, never
    # a negative one. No write completed: write await is absent, not 0. nvme0n1 had no I/O:
    # 0 IOPS and 0 % busy are real zeros, await absent.
    _write_diskstats(
        proc,
        {
            "sda": (3, 24, 10, 150, 800, 1800, 0, 5400, 9000),
            "nvme0n1": (5, 5, 5, 5, 5, 5, 0, 5, 5),
        },
    )
    third = collector.collect()
    sda, nvme = third.devices
    assert sda.read_iops is None and sda.read_await_seconds is None
    assert sda.await_seconds is None
    assert sda.write_iops == 0.0 and sda.write_await_seconds is None
    assert sda.utilization_percent == 0.0
    assert (nvme.read_iops, nvme.utilization_percent, nvme.await_seconds) == (0.0, 0.0, None)

    # proc3, 1 s later: io_time moved by 1.2 s (the clock and the kernel's accounting are read
    # a moment apart): utilisation is capped at 100.
    _write_diskstats(proc, {"nvme0n1": (6, 5, 5, 5, 5, 5, 0, 1205, 5)})
    assert collector.collect().devices[0].utilization_percent == 100.0


def test_psutil_network_with_injected_results() -> None:
    """What psutil gives on Windows/macOS: no fifo/frame counters, no operstate or carrier."""
    Nic = namedtuple(
        "Nic", "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout"
    )
    Stats = namedtuple("Stats", "isup duplex speed mtu flags")
    Conn = namedtuple("Conn", "fd family type laddr raddr status pid")
    readings = iter(
        [
            {"en0": Nic(500, 1000, 5, 10, 0, 0, 0, 0), "lo0": Nic(1, 1, 1, 1, 0, 0, 0, 0)},
            {"en0": Nic(700, 5000, 7, 50, 1, 0, 0, 0), "lo0": Nic(1, 1, 1, 1, 0, 0, 0, 0)},
        ]
    )
    ticks = _ticks(0.0, 4.0)
    connections = {
        "tcp": [
            Conn(1, 2, 1, None, None, "ESTABLISHED", 1),
            Conn(2, 2, 1, None, None, "LISTEN", 1),
        ],
        "udp": [Conn(3, 2, 2, None, None, "NONE", 1)],
    }
    collector = PsutilNetworkCollector(
        device_filter(r"^lo\d*$"),
        net_io_counters=lambda pernic: next(readings),
        net_if_stats=lambda: {
            "en0": Stats(True, 2, 1000, 1500, ""),
            "lo0": Stats(True, 0, 0, 16384, ""),
        },
        net_connections=lambda kind: connections[kind],
        clock=lambda: next(ticks),
    )
    first = collector.collect()
    assert [i.device for i in first.interfaces] == ["en0"]
    en0 = first.interfaces[0]
    assert (en0.up, en0.operstate, en0.carrier) == (True, None, None)
    assert en0.speed_bits_per_second == 1e9 and en0.receive_fifo_errors_total is None
    assert first.tcp_connections_by_state is not None
    assert first.tcp_connections_by_state["ESTABLISHED"] == 1
    assert first.udp_in_use == 1 and first.tcp_in_use is None  # no cheap counts via psutil
    en0 = collector.collect().interfaces[0]
    assert en0.receive_bytes_per_second == 1000.0 and en0.receive_errors_per_second == 0.25

    def denied(kind: str) -> list[object]:
        raise psutil.AccessDenied()

    unprivileged = PsutilNetworkCollector(
        None,
        net_io_counters=lambda pernic: {},
        net_if_stats=dict,
        net_connections=denied,
    ).collect()
    assert unprivileged.tcp_connections_by_state is None and unprivileged.udp_in_use is None


def test_psutil_disk_with_injected_results() -> None:
    """macOS's sdiskio has no merges or busy_time; Linux's has both."""
    MacIO = namedtuple(
        "MacIO", "read_count write_count read_bytes write_bytes read_time write_time"
    )
    readings = iter(
        [
            {"disk0": MacIO(10, 20, 4096, 8192, 100, 200)},
            {"disk0": MacIO(30, 20, 12288, 8192, 300, 200)},
        ]
    )
    ticks = _ticks(0.0, 2.0)
    collector = PsutilDiskCollector(
        None, disk_io_counters=lambda perdisk: next(readings), clock=lambda: next(ticks)
    )
    disk0 = collector.collect().devices[0]
    assert disk0.read_time_seconds_total == pytest.approx(0.1)
    assert disk0.reads_merged_total is None and disk0.io_time_seconds_total is None
    disk0 = collector.collect().devices[0]
    assert disk0.read_iops == 10.0 and disk0.read_bytes_per_second == 4096.0
    assert disk0.read_await_seconds == pytest.approx(0.2 / 20)
    assert disk0.write_await_seconds is None  # no write completed
    assert disk0.utilization_percent is None  # psutil has no busy_time on macOS
    LinuxIO = namedtuple(
        "LinuxIO",
        "read_count write_count read_bytes write_bytes read_time write_time "
        "read_merged_count write_merged_count busy_time",
    )
    linux = PsutilDiskCollector(
        device_filter(DEFAULT_DISK_DEVICE_EXCLUDE),
        disk_io_counters=lambda perdisk: {
            "sda": LinuxIO(1, 2, 3, 4, 5, 6, 7, 8, 9000),
            "sda1": LinuxIO(1, 2, 3, 4, 5, 6, 7, 8, 9),
        },
    ).collect()
    assert [d.device for d in linux.devices] == ["sda"]
    assert linux.devices[0].io_time_seconds_total == 9.0
    assert PsutilDiskCollector(None, disk_io_counters=lambda perdisk: None).collect().devices == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads this host's /sys")
def test_sysfs_net_class_on_this_host_never_raises_for_down_links() -> None:
    """Real /sys answers EINVAL for carrier/speed of down interfaces (and for lo's speed)."""
    for entry in Path("/sys/class/net").iterdir():
        if entry.is_dir():
            link = SysFS("/sys").net_class(entry.name)
            assert link.device == entry.name and link.mtu_bytes is not None


def test_network_and_disk_round_trip_through_digest_and_store(tmp_path: Path) -> None:
    snapshot = Snapshot(
        timestamp=T0,
        network=NetworkSection(
            interfaces=[
                NetworkInterface(
                    device="eth0",
                    receive_bytes_total=3000,
                    receive_packets_total=30,
                    transmit_bytes_total=900,
                    transmit_packets_total=9,
                    receive_bytes_per_second=1000.0,
                    operstate="up",
                    up=True,
                    speed_bits_per_second=1e9,
                )
            ],
            tcp_connections_by_state={"ESTABLISHED": 2, "TIME_WAIT": 0},
            tcp_in_use=4,
        ),
        disk=DiskSection(
            devices=[
                DiskDevice(
                    device="sda",
                    reads_completed_total=300,
                    read_bytes_total=2800 * 512,
                    writes_completed_total=150,
                    written_bytes_total=800 * 512,
                    read_iops=20.0,
                    await_seconds=0.008,
                    utilization_percent=50.0,
                )
            ]
        ),
    )
    flat = dict(flatten_snapshot(snapshot))
    expected = {
        'network_receive_bytes_total{device="eth0"}': 3000.0,
        'network_receive_bytes_per_second{device="eth0"}': 1000.0,
        'network_transmit_bytes_per_second{device="eth0"}': None,
        'network_up{device="eth0"}': 1.0,
        'network_carrier{device="eth0"}': None,
        'network_speed_bits_per_second{device="eth0"}': 1e9,
        'network_tcp_connections{state="ESTABLISHED"}': 2.0,
        'network_tcp_connections{state="TIME_WAIT"}': 0.0,
        "network_tcp_in_use": 4.0,
        "network_udp_in_use": None,
        'disk_read_bytes_total{device="sda"}': 2800 * 512.0,
        'disk_read_iops{device="sda"}': 20.0,
        'disk_await_seconds{device="sda"}': 0.008,
        'disk_utilization_percent{device="sda"}': 50.0,
        'disk_flush_requests_total{device="sda"}': None,
    }
    assert {k: flat[k] for k in expected} == expected
    assert not any("operstate" in k or k.startswith("network_device") for k in flat)

    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    auth.bootstrap(engine, tmp_path, "pw")  # tenant 1
    batch = Payload(
        schema_version=1,
        batch_id=uuid.uuid4(),
        agent=AgentInfo(version="test"),
        host=HostIdentity(machine_id="m", hostname="h"),
        snapshots=[snapshot],
    )
    StoreWriter(engine).write_batches([agent_payload_rows(1, payload_json(batch))])
    with engine.connect() as conn:
        host_id = conn.execute(select(hosts.c.id)).scalar_one()
    start = round(T0.timestamp() * 1000)
    series = MetricQueries(engine).host_series(
        1,
        host_id,
        start,
        start,
        {"network_receive_bytes_per_second", "network_tcp_connections", "disk_await_seconds"},
    )
    stored = {(s.metric, tuple(sorted(s.labels.items()))): s.points for s in series}
    t = T0.timestamp()
    assert stored == {
        ("disk_await_seconds", (("device", "sda"),)): [(t, 0.008)],
        ("network_receive_bytes_per_second", (("device", "eth0"),)): [(t, 1000.0)],
        ("network_tcp_connections", (("state", "ESTABLISHED"),)): [(t, 2.0)],
        ("network_tcp_connections", (("state", "TIME_WAIT"),)): [(t, 0.0)],
    }


def test_runner_fills_both_sections(tmp_path: Path) -> None:
    proc, sys_ = _net_tree(tmp_path)
    _write_netdev(proc, {"eth0": (1, 1, 1, 1)})
    _write_diskstats(proc, {"vda": (1, 1, 1, 1, 1, 1, 0, 1, 1)})
    context = CollectorContext(ProcFS(proc), SysFS(sys_), tmp_path, platform="linux")
    runner = CollectorRunner([REGISTRY["network"], REGISTRY["disk"]], context)
    snapshot = runner.collect()
    runner.close()
    assert all(s.success for s in snapshot.collectors)
    assert snapshot.network is not None and snapshot.disk is not None
    assert snapshot.disk.devices[0].device == "vda"


def test_a_malformed_link_attribute_names_the_file(tmp_path: Path) -> None:
    directory = tmp_path / "class" / "net" / "eth0"
    directory.mkdir(parents=True)
    (directory / "speed").write_text("fast\n")
    with pytest.raises(ParseError, match=r"/sys/class/net/eth0/speed:1: not an integer"):
        SysFS(tmp_path).net_class("eth0")


def test_curr_estab_comes_from_the_state_counts_when_they_exist(tmp_path: Path) -> None:
    """tcpCurrEstab is ESTABLISHED + CLOSE-WAIT (RFC 1213); with per-state counts at hand
    they give it, read in the same instant as the states; snmp's own gauge is still sent with
    the other MIB counters."""
    proc, sys_ = _net_tree(tmp_path)
    _write_netdev(proc, {"eth0": (1, 1, 1, 1)})
    (proc / "net" / "snmp").write_text(SNMP.replace(" 10 20 0 0 2 ", " 10 20 0 0 7 "))
    section = LinuxNetworkCollector(ProcFS(proc), SysFS(sys_), None).collect()
    states = section.tcp_connections_by_state
    assert states is not None
    assert section.tcp_curr_estab == states["ESTABLISHED"] + states["CLOSE_WAIT"] == 2
    assert section.netstat is not None and section.netstat.tcp_curr_estab == 7


def test_loopback_is_kept_by_default(tmp_path: Path) -> None:
    """As upstream node_exporter: lo is reported unless the exclude setting says otherwise."""
    proc, sys_ = _net_tree(tmp_path)
    _write_netdev(proc, {"lo": (9, 9, 9, 9), "eth0": (1, 1, 1, 1)})
    exclude = device_filter(NetworkSettings().device_exclude)
    section = LinuxNetworkCollector(ProcFS(proc), SysFS(sys_), exclude).collect()
    assert [i.device for i in section.interfaces] == ["lo", "eth0"]
    assert DEFAULT_NETWORK_DEVICE_EXCLUDE == ""


def test_no_tcp_tables_means_absent_states_not_zeros(tmp_path: Path) -> None:
    proc, sys_ = _net_tree(tmp_path)
    _write_netdev(proc, {"eth0": (1, 1, 1, 1)})
    (proc / "net" / "tcp").unlink()
    (proc / "net" / "tcp6").unlink()
    section = LinuxNetworkCollector(ProcFS(proc), SysFS(sys_), None).collect()
    assert section.tcp_connections_by_state is None
    assert section.tcp_curr_estab == 2  # then from /proc/net/snmp's CurrEstab


def test_speed_and_mtu_are_reread_once_a_minute_link_state_every_cycle(tmp_path: Path) -> None:
    proc, sys_ = _net_tree(tmp_path)
    _write_netdev(proc, {"eth0": (1, 1, 1, 1)})
    now = [1000.0]
    collector = LinuxNetworkCollector(
        ProcFS(proc), SysFS(sys_), None, tcp_states=False, attribute_clock=lambda: now[0]
    )
    assert collector.collect().interfaces[0].speed_bits_per_second == 1e9
    eth0 = sys_ / "class" / "net" / "eth0"
    (eth0 / "speed").write_text("10000\n")
    (eth0 / "operstate").write_text("down\n")
    now[0] += 30
    half_minute = collector.collect().interfaces[0]
    assert (half_minute.operstate, half_minute.speed_bits_per_second) == ("down", 1e9)
    now[0] += 30
    assert collector.collect().interfaces[0].speed_bits_per_second == 1e10


def test_kept_open_sysfs_reads_what_fresh_reads_do_on_this_host() -> None:
    """Every interface here, down ones included (carrier and speed answer EINVAL): the kept
    descriptors give the same attributes as opening each file, cycle after cycle, and stay
    open between reads."""
    fresh = SysFS("/sys")
    kept = fresh.kept_open()
    assert kept is not fresh and kept._files is not None
    try:
        devices = sorted(entry.name for entry in os.scandir("/sys/class/net"))
        for _ in range(3):
            for device in devices:
                assert kept.net_class(device) == fresh.net_class(device)
        operstates = [p for p in kept._files._fds if p.endswith("/operstate")]
        assert len(operstates) == len(devices)
        before = dict(kept._files._fds)
        for device in devices:
            kept.net_class(device, ("operstate",))
        assert all(kept._files._fds[p] == before[p] for p in operstates)  # reused, not reopened
        assert kept.net_class("no-such-interface") == fresh.net_class("no-such-interface")
    finally:
        kept.close()
    assert kept._files._fds == {}


def test_sysfs_on_a_fixture_tree_is_not_kept_open(tmp_path: Path) -> None:
    sysfs = SysFS(tmp_path)
    assert sysfs.kept_open() is sysfs


def _kept_sysfs_tree(tmp_path: Path) -> tuple[Path, Path, SysFS]:
    """The fixture network tree with a SysFS that keeps its files open as on a real sysfs
    (kept_open refuses a fixture tree, so it is built directly)."""
    proc, sys_ = _net_tree(tmp_path)
    return proc, sys_, SysFS(sys_, keep_open=True)


def test_kept_sysfs_files_of_an_interface_that_disappears_are_closed(tmp_path: Path) -> None:
    """An interface gone from /proc/net/dev has its kept files closed; when one of the same
    name comes back (another sysfs node) its attributes are read afresh, not through the
    old descriptors (which on this tmpfs would still show the removed files)."""
    proc, sys_, sysfs = _kept_sysfs_tree(tmp_path)
    collector = LinuxNetworkCollector(ProcFS(proc), sysfs, None, tcp_states=False)
    _write_netdev(proc, {"eth0": (1, 1, 1, 1), "docker0": (1, 1, 1, 1)})
    first = collector.collect()
    assert [(i.device, i.operstate) for i in first.interfaces] == [
        ("eth0", "up"),
        ("docker0", "down"),
    ]
    assert sysfs._files is not None
    eth0 = str(sys_ / "class" / "net" / "eth0")
    assert any(path.startswith(eth0 + "/") for path in sysfs._files._fds)

    _write_netdev(proc, {"docker0": (2, 2, 2, 2)})  # eth0 is gone
    shutil.rmtree(sys_ / "class" / "net" / "eth0")
    assert [i.device for i in collector.collect().interfaces] == ["docker0"]
    assert not any(path.startswith(eth0 + "/") for path in sysfs._files._fds)

    directory = sys_ / "class" / "net" / "eth0"  # back, as another device, down this time
    directory.mkdir()
    (directory / "operstate").write_text("lowerlayerdown\n")
    _write_netdev(proc, {"eth0": (3, 3, 3, 3), "docker0": (3, 3, 3, 3)})
    back = {i.device: i for i in collector.collect().interfaces}
    assert (back["eth0"].operstate, back["eth0"].up, back["eth0"].carrier) == (
        "lowerlayerdown",
        False,
        None,
    )
    collector.close()
    assert sysfs._files._fds == {}


def test_kept_sysfs_file_that_fails_to_read_is_opened_again(tmp_path: Path) -> None:
    """A kept descriptor that errors (a removed sysfs node answers ENODEV) is closed and the
    file opened afresh by path: a missing file then gives None, like a fresh read."""
    _, sys_, sysfs = _kept_sysfs_tree(tmp_path)
    assert sysfs.net_class("eth0").operstate == "up"
    assert sysfs._files is not None
    path = str(sys_ / "class" / "net" / "eth0" / "operstate")
    os.close(sysfs._files._fds[path])
    # A descriptor whose read fails (EISDIR here; ENODEV from a removed sysfs node).
    sysfs._files._fds[path] = os.open(tmp_path, os.O_RDONLY)
    shutil.rmtree(sys_ / "class" / "net" / "eth0")
    try:
        # (The other attributes' kept descriptors still show the removed tmpfs files; on
        # sysfs they too would fail and be opened afresh.)
        assert sysfs.net_class("eth0", ("operstate",)).operstate is None
        assert path not in sysfs._files._fds  # closed, and nothing there to keep
    finally:
        sysfs.close()


def test_a_kept_file_with_no_value_now_stays_open(tmp_path: Path) -> None:
    """An errno that says "no value at the moment" (EINVAL from the carrier of a link that is
    down; EISDIR stands in for it here) is raised without closing the kept file, so a down
    link's attributes are not opened afresh every cycle; any other error reopens the file."""
    kept = KeptFiles()
    directory = str(tmp_path)
    try:
        with pytest.raises(IsADirectoryError):
            kept.read(directory, frozenset({errno.EISDIR}))
        fd = kept._fds[directory]
        with pytest.raises(IsADirectoryError):
            kept.read(directory, frozenset({errno.EISDIR}))
        assert kept._fds[directory] == fd
        with pytest.raises(IsADirectoryError):
            kept.read(directory)  # not a "no value now" error here: closed, not kept
        assert directory not in kept._fds
    finally:
        kept.close()


@pytest.mark.skipif(not Path("/sys/class/net").is_dir(), reason="needs /sys/class/net")
def test_kept_attributes_of_down_links_stay_open_on_this_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second reading of every interface's attributes opens no file, down links' (whose
    carrier and speed answer EINVAL) included, and reads each with a single pread."""
    kept = SysFS("/sys").kept_open()
    devices = [entry.name for entry in os.scandir("/sys/class/net")]
    try:
        first = [kept.net_class(device) for device in devices]
        opened: list[str] = []
        real_open = os.open
        monkeypatch.setattr(
            os, "open", lambda path, *a: (opened.append(path), real_open(path, *a))[1]
        )
        reads: list[int] = []
        real_pread = os.pread
        monkeypatch.setattr(os, "pread", lambda fd, *a: (reads.append(fd), real_pread(fd, *a))[1])
        assert [kept.net_class(device) for device in devices] == first
        monkeypatch.undo()
        assert opened == []
        # One pread per attribute: a sysfs value is one page, no second read for the end.
        assert len(reads) == len(NET_CLASS_FILES) * len(devices)
    finally:
        kept.close()
