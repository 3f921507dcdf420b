"""The network and disk collectors, through their payload sections and flatten_snapshot, against
Debian node_exporter 1.5.0 on the shared fixture trees (counters value for value, ==), and
their rates on the live t0 -> t1 captures against rates from node_exporter's two scrapes.

The parsers are golden-tested already (test_linux_parsers_golden_more.py); these tests prove
the collector, section and flattening path keeps every value and picks the same devices.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetscope.agent.collectors.base import device_filter
from fleetscope.agent.collectors.disk import DEFAULT_DISK_DEVICE_EXCLUDE, LinuxDiskCollector
from fleetscope.agent.collectors.network import LinuxNetworkCollector
from fleetscope.agent.linux.parsers.diskstats import SECTOR_BYTES
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.model.payload import DiskSection, NetworkSection, Snapshot
from fleetscope.model.series import flatten_snapshot, split_series_key
from tests.agent.test_linux_parsers_golden_more import FIXTURE_PAGE_SIZE, NETDEV_COUNTERS
from tests.golden import SampleKey, load_expected

Samples = dict[SampleKey, float]
AT = datetime(2026, 11, 22, tzinfo=UTC)

# Our counter name -> node_exporter's (/proc/net/dev legacy names, README quirk 3).
NETDEV_NAMES = {
    "receive_bytes_total": "receive_bytes",
    "receive_packets_total": "receive_packets",
    "receive_errors_total": "receive_errs",
    "receive_drops_total": "receive_drop",
    "receive_fifo_errors_total": "receive_fifo",
    "receive_frame_errors_total": "receive_frame",
    "receive_compressed_total": "receive_compressed",
    "receive_multicast_total": "receive_multicast",
    "transmit_bytes_total": "transmit_bytes",
    "transmit_packets_total": "transmit_packets",
    "transmit_errors_total": "transmit_errs",
    "transmit_drops_total": "transmit_drop",
    "transmit_fifo_errors_total": "transmit_fifo",
    "transmit_collisions_total": "transmit_colls",
    "transmit_carrier_errors_total": "transmit_carrier",
    "transmit_compressed_total": "transmit_compressed",
}
NETCLASS = {
    "up": "node_network_up",
    "carrier": "node_network_carrier",
    "mtu_bytes": "node_network_mtu_bytes",
}
DISK_NAMES = {
    "reads_completed_total": "node_disk_reads_completed_total",
    "reads_merged_total": "node_disk_reads_merged_total",
    "read_bytes_total": "node_disk_read_bytes_total",
    "read_time_seconds_total": "node_disk_read_time_seconds_total",
    "writes_completed_total": "node_disk_writes_completed_total",
    "writes_merged_total": "node_disk_writes_merged_total",
    "written_bytes_total": "node_disk_written_bytes_total",
    "write_time_seconds_total": "node_disk_write_time_seconds_total",
    "io_in_progress": "node_disk_io_now",
    "io_time_seconds_total": "node_disk_io_time_seconds_total",
    "io_time_weighted_seconds_total": "node_disk_io_time_weighted_seconds_total",
    "discards_completed_total": "node_disk_discards_completed_total",
    "discards_merged_total": "node_disk_discards_merged_total",
    "discarded_bytes_total": "node_disk_discarded_sectors_total",  # sectors there (quirk 6)
    "discard_time_seconds_total": "node_disk_discard_time_seconds_total",
    "flush_requests_total": "node_disk_flush_requests_total",
    "flush_time_seconds_total": "node_disk_flush_requests_time_seconds_total",
}


def _flat(section: NetworkSection | DiskSection) -> Iterator[tuple[str, dict[str, str], float]]:
    """Our flattened series (name, labels, value), absent values left out."""
    if isinstance(section, NetworkSection):
        snapshot = Snapshot(timestamp=AT, network=section)
    else:
        snapshot = Snapshot(timestamp=AT, disk=section)
    for series, value in flatten_snapshot(snapshot):
        if value is not None:
            name, labels = split_series_key(series)
            yield name, labels, value


def network_as_node_exporter(section: NetworkSection) -> Samples:
    ours: Samples = {}
    for name, labels, value in _flat(section):
        field = name.removeprefix("network_")
        device = frozenset(labels.items())
        if field in NETDEV_NAMES:
            ours[(f"node_network_{NETDEV_NAMES[field]}_total", device)] = value
        elif field in NETCLASS:
            ours[(NETCLASS[field], device)] = value
        elif field == "speed_bits_per_second":
            ours[("node_network_speed_bytes", device)] = value / 8
    return ours


def disk_as_node_exporter(section: DiskSection) -> Samples:
    ours: Samples = {}
    for name, labels, value in _flat(section):
        field = name.removeprefix("disk_")
        if field in DISK_NAMES:
            scale = SECTOR_BYTES if field == "discarded_bytes_total" else 1
            ours[(DISK_NAMES[field], frozenset(labels.items()))] = value / scale
    return ours


def _assert_same(ours: Samples, expected: Samples, families: set[str]) -> int:
    wanted = {k: v for k, v in expected.items() if k[0] in families}
    assert wanted
    mine = {k: v for k, v in ours.items() if k[0] in families}
    assert mine.keys() == wanted.keys(), (
        sorted(wanted.keys() - mine.keys())[:5],
        sorted(mine.keys() - wanted.keys())[:5],
    )
    assert {k: v for k, v in mine.items() if v != wanted[k]} == {}
    return len(wanted)


def test_network_collector_reproduces_node_exporter_on_the_procfs_tree(
    fixtures_dir: Path,
) -> None:
    """The procfs tree: node_exporter's own tree has no proc/net/dev (README quirk 1). Debian's
    binary ran with --collector.netdev.device-exclude= , so nothing is excluded here either."""
    tree = fixtures_dir / "procfs" / "tree"
    expected = load_expected(fixtures_dir / "procfs" / "expected_metrics.txt")
    collector = LinuxNetworkCollector(
        ProcFS(tree / "proc", page_size=FIXTURE_PAGE_SIZE), SysFS(tree / "sys"), None
    )
    section = collector.collect()
    ours = network_as_node_exporter(section)
    counters = {f"node_network_{c}_total" for c in NETDEV_COUNTERS}
    assert _assert_same(ours, expected, counters) == 16 * 4
    # /sys/class/net/eth0: up, carrier 1, mtu 1500, speed 1000 Mb/s = 1.25e8 bytes/s.
    linkinfo = {*NETCLASS.values(), "node_network_speed_bytes"}
    assert _assert_same(ours, expected, linkinfo) == 4

    def scalar(name: str) -> float:
        return expected[(name, frozenset())]

    assert section.tcp_in_use == scalar("node_sockstat_TCP_inuse") + scalar(
        "node_sockstat_TCP6_inuse"
    )
    assert section.tcp_time_wait == scalar("node_sockstat_TCP_tw")
    assert section.tcp_orphans == scalar("node_sockstat_TCP_orphan")
    assert section.udp_in_use == scalar("node_sockstat_UDP_inuse") + scalar(
        "node_sockstat_UDP6_inuse"
    )
    # No /proc/net/snmp in this tree, but tcp and tcp6 are there: CurrEstab is their
    # ESTABLISHED + CLOSE_WAIT (RFC 1213's definition).
    states = section.tcp_connections_by_state
    assert states is not None
    assert section.tcp_curr_estab == states["ESTABLISHED"] + states["CLOSE_WAIT"]


def test_netclass_speed_unknown_is_absent_where_node_exporter_says_negative(
    fixtures_dir: Path,
) -> None:
    """bond0's speed file says -1 (SPEED_UNKNOWN); node_exporter 1.5.0 prints -125000 bytes/s,
    we keep the speed absent. Its other attributes agree."""
    sysfs = SysFS(fixtures_dir / "node_exporter" / "tree" / "sys")
    expected = load_expected(fixtures_dir / "node_exporter" / "expected_metrics.txt")
    device = frozenset({("device", "bond0")})
    assert expected[("node_network_speed_bytes", device)] == -125000
    bond0 = sysfs.net_class("bond0")
    assert bond0.speed_bits_per_second is None
    assert (bond0.operstate, bond0.carrier) == ("up", True)
    assert bond0.mtu_bytes == expected[("node_network_mtu_bytes", device)]


@pytest.mark.parametrize("tree", ["node_exporter", "procfs"])
def test_disk_collector_reproduces_node_exporter(fixtures_dir: Path, tree: str) -> None:
    """Our default filter adds `z?` (zram) to 1.5.0's; neither tree has a zram device, so the
    device sets must be the same."""
    expected = load_expected(fixtures_dir / tree / "expected_metrics.txt")
    proc = fixtures_dir / tree / "tree" / "proc"
    section = LinuxDiskCollector(ProcFS(proc), device_filter(DEFAULT_DISK_DEVICE_EXCLUDE)).collect()
    assert all(d.read_iops is None for d in section.devices)  # first sight
    assert _assert_same(disk_as_node_exporter(section), expected, set(DISK_NAMES.values())) > 0


# --- live: rates from t0 to t1 --------------------------------------------------------------


def _live(fixtures_dir: Path) -> tuple[Path, Path, float, float]:
    base = fixtures_dir / "live"
    times = [
        json.loads((base / t / "meta.json").read_text())["files_read_start_monotonic"]
        for t in ("t0", "t1")
    ]
    return base / "t0", base / "t1", times[0], times[1]


def _rate_check(
    ours: dict[SampleKey, float | None],
    counters: dict[SampleKey, str],
    snapshots: list[dict[str, Samples]],
    seconds: float,
) -> tuple[int, int]:
    """Each of our rates against (scrape1 - scrape0) / seconds over the same interval.

    node_exporter scraped between our reads of each capture (before/, after/). Where a counter
    did not move across a capture, the scrape read exactly our value, so the rates must be
    equal (==). Where it moved (lo carries the scrape itself), the scrape's rate can differ
    from ours by at most the movement across both captures over the interval."""
    exact = bounded = 0
    for key, counter in counters.items():
        rate = ours[key]
        assert rate is not None, key
        (b0, s0, a0), (b1, s1, a1) = (
            tuple(snap[part][(counter, key[1])] for part in ("before", "scrape", "after"))
            for snap in snapshots
        )
        theirs = (s1 - s0) / seconds
        if b0 == a0 and b1 == a1:
            assert rate == theirs, (key, rate, theirs)
            exact += 1
        else:
            assert abs(rate - theirs) <= ((a0 - b0) + (a1 - b1)) / seconds, (key, rate, theirs)
            bounded += 1
    return exact, bounded


def _captures(t: Path, as_samples: Callable[[Path], Samples]) -> dict[str, Samples]:
    return {
        "before": as_samples(t / "proc"),
        "after": as_samples(t / "after" / "proc"),
        "scrape": load_expected(t / "metrics.txt", "node_"),
    }


def test_live_network_rates_match_node_exporters_scrapes(fixtures_dir: Path) -> None:
    t0, t1, m0, m1 = _live(fixtures_dir)
    ticks = iter([m0, m1])
    # The live scrapes ran with --collector.netdev.device-exclude= (lo included).
    collector = LinuxNetworkCollector(
        ProcFS(t0 / "proc"), SysFS(t0 / "sys"), None, clock=lambda: next(ticks)
    )
    first = collector.collect()
    assert all(i.receive_bytes_per_second is None for i in first.interfaces)
    collector.procfs = ProcFS(t1 / "proc")
    second = collector.collect()

    def samples(proc: Path) -> Samples:
        return network_as_node_exporter(
            LinuxNetworkCollector(ProcFS(proc), SysFS(proc), None).collect()
        )

    snapshots = [_captures(t0, samples), _captures(t1, samples)]
    ours: dict[SampleKey, float | None] = {}
    counters: dict[SampleKey, str] = {}
    for name, labels, value in _flat(second):
        field = name.removeprefix("network_")
        if field.endswith("_per_second"):
            key = (name, frozenset(labels.items()))
            ours[key] = value
            counter = field.removesuffix("_per_second") + "_total"
            counters[key] = f"node_network_{NETDEV_NAMES[counter]}_total"
    assert len(counters) == 8 * 4  # 8 rates x lo, ifb0, ifb1, eth0
    exact, bounded = _rate_check(ours, counters, snapshots, m1 - m0)
    assert bounded == 4  # lo's bytes and packets, both directions, carry the scrape itself
    assert exact == 28
    eth0 = next(i for i in second.interfaces if i.device == "eth0")
    assert eth0.receive_bytes_per_second == (
        eth0.receive_bytes_total - first.interfaces[3].receive_bytes_total
    ) / (m1 - m0)


def test_live_disk_rates_await_and_utilisation_match_node_exporters_scrapes(
    fixtures_dir: Path,
) -> None:
    t0, t1, m0, m1 = _live(fixtures_dir)
    seconds = m1 - m0
    ticks = iter([m0, m1])
    collector = LinuxDiskCollector(
        ProcFS(t0 / "proc"), device_filter(DEFAULT_DISK_DEVICE_EXCLUDE), clock=lambda: next(ticks)
    )
    collector.collect()
    collector.procfs = ProcFS(t1 / "proc")
    vda = collector.collect().devices[0]
    assert vda.device == "vda"

    scrapes = [load_expected(t / "metrics.txt", "node_disk_") for t in (t0, t1)]
    # node_exporter 1.5.0 exports zram0; our default (node_exporter 1.8.0+) leaves it out.
    zram0 = ("node_disk_reads_completed_total", frozenset({("device", "zram0")}))
    assert zram0 in scrapes[0]
    # /proc/diskstats did not move across either scrape (diffed before/ and after/), so the
    # scrape's counters are ours and every derived value must be equal, computed as iostat does.
    for t in (t0, t1):
        assert (t / "proc" / "diskstats").read_text() == (
            t / "after" / "proc" / "diskstats"
        ).read_text()

    def delta(metric: str) -> float:
        key = (metric, frozenset({("device", "vda")}))
        return scrapes[1][key] - scrapes[0][key]

    reads = delta("node_disk_reads_completed_total")
    writes = delta("node_disk_writes_completed_total")
    read_time = delta("node_disk_read_time_seconds_total")
    write_time = delta("node_disk_write_time_seconds_total")
    assert reads > 0 and writes > 0  # the VM did some I/O in those 10 s, so await is defined
    assert vda.read_iops == reads / seconds
    assert vda.write_iops == writes / seconds
    assert vda.read_bytes_per_second == delta("node_disk_read_bytes_total") / seconds
    assert vda.written_bytes_per_second == delta("node_disk_written_bytes_total") / seconds
    assert vda.read_await_seconds == read_time / reads
    assert vda.write_await_seconds == write_time / writes
    assert vda.await_seconds == (read_time + write_time) / (reads + writes)
    assert vda.utilization_percent == 100.0 * (delta("node_disk_io_time_seconds_total") / seconds)
