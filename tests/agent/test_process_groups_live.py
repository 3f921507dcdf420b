"""Live comparison with Debian's prometheus-process-exporter on this machine's /proc.

We start a small group of our own processes whose comm is unique ("fsprobe", by exec'ing
through a symlink of that name), run the exporter on 127.0.0.1 with process-exporter's
comm.yaml semantics, and check that its gauges for that group lie within our readings taken
just before and just after its scrape (the fixtures README's bracket rule).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.processes.groups import GroupSnapshot, ProcessGrouper, group_processes
from fleetscope.agent.processes.settings import ProcessGroupsSettings
from fleetscope.agent.processes.tracker import GroupTracker
from fleetscope.config.settings import settings_from
from tests.agent.test_process_groups import parse_exposition
from tests.conftest import require

EXPORTER = "prometheus-process-exporter"
PROBE = "fsprobe"
COMM_YAML = "process_names:\n  - name: \"{{.Comm}}\"\n    cmdline:\n    - '.+'\n"
PROBE_SCRIPT = """
import sys, threading, time
for _ in range(3):
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
blob = bytearray(8 * 1024 * 1024)  # touched, so resident
print("ready", flush=True)
for line in sys.stdin:  # "burn" spends 0.3 s of CPU, then answers
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    print("done", flush=True)
"""

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def probes(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two threaded Python processes and one sleep, all with comm "fsprobe"."""
    python = tmp_path / "py" / PROBE
    sleep = tmp_path / "sleep" / PROBE
    for link, target in ((python, os.path.realpath(sys.executable)), (sleep, "/bin/sleep")):
        link.parent.mkdir()
        link.symlink_to(target)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(2):
            proc = subprocess.Popen(
                [str(python), "-c", PROBE_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            started.append(proc)
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        started.append(subprocess.Popen([str(sleep), "600"]))
        yield started
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            proc.wait(timeout=10)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which(EXPORTER)
    require(binary is not None, f"{EXPORTER} is not installed (scripts/system-deps installs it)")
    assert binary is not None
    config = tmp_path / "comm.yaml"
    config.write_text(COMM_YAML)
    url = f"http://127.0.0.1:{_free_port()}/metrics"
    proc = subprocess.Popen(
        [
            binary,
            f"-web.listen-address={url.split('/')[2]}",
            f"-config.path={config}",
            "-gather-smaps=false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(url, timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"{EXPORTER} did not come up on {url}: {err}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def _grouper() -> ProcessGrouper:
    return ProcessGrouper(
        settings_from(
            ProcessGroupsSettings, {"process_names": [{"name": "{{.Comm}}", "cmdline": [".+"]}]}
        )
    )


def _ours() -> dict[str, GroupSnapshot]:
    return group_processes(ProcFS("/proc").processes(), _grouper())


def test_probe_group_matches_process_exporter(
    probes: list[subprocess.Popen[bytes]], exporter: str
) -> None:
    before = _ours()[PROBE]
    scraped = parse_exposition(httpx.get(exporter, timeout=10).text)
    after = _ours()[PROBE]

    def theirs(metric: str, **labels: str) -> float:
        key = tuple(sorted({"groupname": PROBE, **labels}.items()))
        return scraped[(f"namedprocess_namegroup_{metric}", key)]

    def bracketed(value: float, a: float, b: float) -> bool:
        return min(a, b) <= value <= max(a, b)

    assert before.num_procs == after.num_procs == theirs("num_procs") == 3
    assert before.num_threads == theirs("num_threads") == 2 * 4 + 1
    assert bracketed(
        theirs("memory_bytes", memtype="resident"), before.resident_bytes, after.resident_bytes
    )
    assert bracketed(
        theirs("memory_bytes", memtype="virtual"), before.virtual_bytes, after.virtual_bytes
    )
    assert theirs("memory_bytes", memtype="swapped") == (before.swap_bytes or 0)
    assert before.open_fds is not None
    assert theirs("open_filedesc") == before.open_fds
    assert theirs("worst_fd_ratio") == before.worst_fd_ratio
    assert theirs("oldest_start_time_seconds") == math.floor(before.oldest_start_time_seconds)
    # process-exporter adds, to each process's own state, the state of every thread of a
    # process with two or more threads (proc/read.go GetThreads, tracker.go handleProc); we
    # count processes only. All probe threads sleep: 3 processes + 2 x 4 threads.
    assert before.states["Sleeping"] == 3
    assert theirs("states", state="Sleeping") == 3 + 2 * 4


def test_probe_cpu_counter_delta_matches_process_exporter(
    probes: list[subprocess.Popen[bytes]], exporter: str
) -> None:
    # Counters are deltas since each tool first saw a process, so compare how much they grow
    # across the same burst of work: both probes burn 0.3 s of CPU between two scrapes, and
    # our tracker updates on either side of that burst too.
    tracker = GroupTracker(_grouper())
    key_user = (
        "namedprocess_namegroup_cpu_seconds_total",
        (("groupname", PROBE), ("mode", "user")),
    )
    key_system = (key_user[0], (("groupname", PROBE), ("mode", "system")))

    def theirs() -> float:
        scraped = parse_exposition(httpx.get(exporter, timeout=10).text)
        return scraped[key_user] + scraped[key_system]

    def ours() -> float:
        c = tracker.update(ProcFS("/proc").processes(), now=time.time())[PROBE].counters
        return c.cpu_user_seconds_total + c.cpu_system_seconds_total

    ours_before, theirs_before = ours(), theirs()
    for proc in probes[:2]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"burn\n")
        proc.stdin.flush()
    for proc in probes[:2]:
        assert proc.stdout is not None and proc.stdout.readline() == b"done\n"
    theirs_delta, ours_delta = theirs() - theirs_before, ours() - ours_before
    assert ours_delta >= 0.5  # tick accounting can come in a little under 2 x 0.3 s
    # Both read the same utime+stime ticks (10 ms); the probes' idle threads add nothing.
    assert ours_delta == pytest.approx(theirs_delta, abs=0.05)
