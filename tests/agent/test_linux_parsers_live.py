"""Our parsers on a real VM's /proc against node_exporter 1.5.0 scraping that VM.

shared/fixtures/live/t0 and t1 each hold the VM's /proc files read just before a scrape
(proc/), the scrape (metrics.txt) and the same files read just after it (after/proc/), all
within one wall-clock second (meta.json). The scrape read the files between our two reads, so:

* a series whose value is the same before and after must be exactly that in the scrape;
* a counter that moved must lie within [before, after] (counters only go up, so the bracket
  is sound);
* five gauges count the scrape's own HTTP connection while it runs (README quirk 12): two
  sockets, i.e. +2 on sockstat TCP inuse/alloc/sockets_used and Tcp CurrEstab and +2 open
  files; they must equal before + 2 exactly;
* any other gauge that moved between our reads (free memory, procs_running, TIME_WAIT count)
  may have taken any value in between, even outside the bracket (MemAvailable did in t0), so
  it cannot be checked value for value here; such series are listed, required to be gauges,
  and limited in number. The same parsers are checked exactly on the fixture trees.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetscope.agent.linux.proc import ProcFS
from tests.agent.test_linux_parsers_golden_more import (
    VMSTAT_FIELDS,
    Samples,
    disk_samples,
    netdev_samples,
    netstat_samples,
    pressure_samples,
    sockstat_samples,
)
from tests.golden import SampleKey, key, load_expected

SNAPSHOTS = ("t0", "t1")
SELF_OBSERVED = {
    "node_sockstat_TCP_inuse": 2,
    "node_sockstat_TCP_alloc": 2,
    "node_sockstat_sockets_used": 2,
    "node_netstat_Tcp_CurrEstab": 2,
    "node_filefd_allocated": 2,
}
# Series in the scrape that no /proc parser of ours produces: node_disk_info's labels come from
# the udev database, the rest describe the exporter itself.
NOT_OURS = ("node_disk_info", "node_scrape_", "node_exporter_build_info")
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _is_counter(name: str) -> bool:
    if name.endswith("_total") or name.startswith("node_vmstat_"):
        return True
    return name.startswith("node_netstat_") and name not in (
        "node_netstat_Tcp_CurrEstab",
        "node_netstat_Ip_Forwarding",
    )


def live_samples(procfs: ProcFS, wanted: set[SampleKey]) -> Samples:
    ours: Samples = {}
    ours.update(disk_samples(procfs.diskstats()))
    ours.update(netdev_samples(procfs.net_dev()))
    ours.update(pressure_samples(procfs))
    ours.update(sockstat_samples([procfs.sockstat(), procfs.sockstat6()]))
    ours.update(netstat_samples(procfs))
    vmstat = procfs.vmstat()
    for name, value in vmstat.by_name.items():
        if VMSTAT_FIELDS.match(name):
            ours[key(f"node_vmstat_{name}")] = value
    file_nr = procfs.file_nr()
    ours[key("node_filefd_allocated")] = file_nr.allocated
    ours[key("node_filefd_maximum")] = file_nr.maximum
    load = procfs.loadavg()
    ours.update(
        {
            key("node_load1"): load.load1,
            key("node_load5"): load.load5,
            key("node_load15"): load.load15,
        }
    )
    stat = procfs.stat()
    ours[key("node_context_switches_total")] = stat.context_switches_total
    ours[key("node_intr_total")] = stat.interrupts_total
    ours[key("node_forks_total")] = stat.forks_total
    ours[key("node_boot_time_seconds")] = stat.boot_time_seconds
    ours[key("node_procs_running")] = stat.procs_running
    ours[key("node_procs_blocked")] = stat.procs_blocked
    for vector, count in stat.softirqs_by_vector.items():
        ours[key("node_softirqs_total", vector=vector)] = count
    for cpu, times in stat.per_cpu.items():
        for mode in CPU_MODES:
            ours[key("node_cpu_seconds_total", cpu=str(cpu), mode=mode)] = getattr(times, mode)
        ours[key("node_cpu_guest_seconds_total", cpu=str(cpu), mode="user")] = times.guest
        ours[key("node_cpu_guest_seconds_total", cpu=str(cpu), mode="nice")] = times.guest_nice
    # meminfo: node_exporter renames Active(anon) to Active_anon and adds _bytes to kB lines.
    memory = {
        name.replace("(", "_").replace(")", ""): value
        for name, value in procfs.meminfo().by_name.items()
    }
    for sample_key in wanted:
        name = sample_key[0]
        if name.startswith("node_memory_"):
            kernel_name = name.removeprefix("node_memory_").removesuffix("_bytes")
            if kernel_name in memory:
                ours[sample_key] = memory[kernel_name]
    return {k: v for k, v in ours.items() if v is not None}


@pytest.mark.parametrize("snapshot", SNAPSHOTS)
def test_live_proc_matches_scrape(fixtures_dir: Path, snapshot: str) -> None:
    base = fixtures_dir / "live" / snapshot
    meta = json.loads((base / "meta.json").read_text())
    assert meta["same_wallclock_second"]
    assert (
        meta["files_read_end_unix"] <= meta["scrape_end_unix"] <= meta["after_files_read_end_unix"]
    )
    page_size = meta["page_size"]
    scrape = {
        k: v
        for k, v in load_expected(base / "metrics.txt").items()
        if k[0].startswith("node_") and not k[0].startswith(NOT_OURS)
    }
    before = live_samples(ProcFS(base / "proc", page_size=page_size), set(scrape))
    after = live_samples(ProcFS(base / "after" / "proc", page_size=page_size), set(scrape))

    missing = scrape.keys() - before.keys()
    assert not missing, f"scraped series our parsers do not produce: {sorted(missing)}"
    exact = bracketed = self_observed = 0
    moved_gauges = []
    for sample_key, value in scrape.items():
        first, last = before[sample_key], after[sample_key]
        name = sample_key[0]
        if name in SELF_OBSERVED:
            assert first == last, sample_key
            assert value == first + SELF_OBSERVED[name], (sample_key, first, value)
            self_observed += 1
        elif first == last:
            assert value == first, (sample_key, first, value)
            exact += 1
        elif _is_counter(name):
            assert first <= value <= last, (sample_key, first, value, last)
            bracketed += 1
        else:
            moved_gauges.append(sample_key)
    assert exact >= 200
    assert self_observed == len(SELF_OBSERVED)
    assert len(moved_gauges) <= 15, moved_gauges
    assert exact + bracketed + self_observed + len(moved_gauges) == len(scrape)
