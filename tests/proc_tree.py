"""Write fake /proc trees from small process tables, for ordered-snapshot tests.

The files have the kernel's layout (fs/proc/array.c, fs/proc/base.c), so tests run through
the real ProcFS and parsers rather than around them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from fleetscope.agent.linux.pidscan import PidScanner
from fleetscope.agent.linux.proc import ProcFS

PAGE_SIZE = 4096
USER_HZ = 100

PROCESS_EXPORTER_ROOT = Path("process_exporter") / "upstream" / "fixtures"


@dataclass(frozen=True)
class FakeProc:
    pid: int
    comm: str
    cmdline: tuple[str, ...] = ()
    ppid: int = 1
    state: str = "S"
    uid: int = 1000
    start_ticks: int = 1000
    utime_ticks: int = 0
    stime_ticks: int = 0
    minflt: int = 0
    majflt: int = 0
    threads: int = 1
    vsize: int = 10_000_000
    rss_pages: int = 100
    swap_kb: int = 0
    read_bytes: int = 0
    write_bytes: int = 0
    voluntary: int = 0
    nonvoluntary: int = 0
    fds: int = 3
    nofile_soft: int = 1024


def stat_line(p: FakeProc) -> str:
    fields = [
        p.state, p.ppid, p.pid, p.pid, 0, -1, 4194560,
        p.minflt, 0, p.majflt, 0, p.utime_ticks, p.stime_ticks, 0, 0, 20, 0,
        p.threads, 0, p.start_ticks, p.vsize, p.rss_pages,
        18446744073709551615, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0,
    ]  # fmt: skip
    return f"{p.pid} ({p.comm}) " + " ".join(str(f) for f in fields) + "\n"


def write_proc_tree(root: Path, procs: list[FakeProc], btime: int = 1_700_000_000) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "stat").write_text(
        "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\nintr 0\nctxt 0\n"
        f"btime {btime}\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n"
    )
    for p in procs:
        d = root / str(p.pid)
        d.mkdir()
        (d / "stat").write_text(stat_line(p))
        (d / "comm").write_text(p.comm + "\n")
        (d / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in p.cmdline))
        (d / "status").write_text(
            f"Name:\t{p.comm}\nState:\t{p.state}\nPPid:\t{p.ppid}\n"
            f"Uid:\t{p.uid}\t{p.uid}\t{p.uid}\t{p.uid}\nGid:\t{p.uid}\t{p.uid}\t{p.uid}\t{p.uid}\n"
            f"VmRSS:\t{p.rss_pages * 4} kB\nVmSwap:\t{p.swap_kb} kB\nThreads:\t{p.threads}\n"
            f"voluntary_ctxt_switches:\t{p.voluntary}\n"
            f"nonvoluntary_ctxt_switches:\t{p.nonvoluntary}\n"
        )
        (d / "io").write_text(
            f"rchar: {p.read_bytes}\nwchar: {p.write_bytes}\nsyscr: 1\nsyscw: 1\n"
            f"read_bytes: {p.read_bytes}\nwrite_bytes: {p.write_bytes}\n"
            "cancelled_write_bytes: 0\n"
        )
        (d / "limits").write_text(
            "Limit                     Soft Limit           Hard Limit           Units     \n"
            "Max cpu time              unlimited            unlimited            seconds   \n"
            f"Max open files            {p.nofile_soft:<20} 524288               files     \n"
        )
        (d / "fd").mkdir()
        for fd in range(p.fds):
            (d / "fd" / str(fd)).symlink_to("/dev/null")
        if p.cmdline:
            (d / "exe").symlink_to(p.cmdline[0])
    return root


def copy_with_symlinks(fixture_root: Path, dest: Path) -> Path:
    """The shared fixture stores upstream's symlinks (exe, fd/*) as text files holding the
    target; rebuild them as real symlinks in a copy, as upstream's tree has them."""
    shutil.copytree(fixture_root, dest)
    # The fixture is read-only; make the copy writable so links can replace files (and
    # pytest can clean it up when not running as root).
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    for pid_dir in dest.iterdir():
        if not pid_dir.name.isdigit():
            continue
        links = [pid_dir / "exe", *sorted((pid_dir / "fd").iterdir())]
        for link in links:
            target = link.read_text().strip()
            link.unlink()
            link.symlink_to(target)
    return dest


class FlakyPidScanner(PidScanner):
    """A process scan whose reads fail the way the kernel fails them, for one pid and file."""

    def __init__(self, root: Path, fail: dict[tuple[int, str], OSError]) -> None:
        super().__init__(root)
        self.fail = fail

    def _pid_bytes(self, pid: int, name: str) -> bytes:
        if (pid, name) in self.fail:
            raise self.fail[(pid, name)]
        return super()._pid_bytes(pid, name)

    def _pid_open_fds(self, pid: int, counted: bool = False) -> int:
        if (pid, "fd") in self.fail:
            raise self.fail[(pid, "fd")]
        return super()._pid_open_fds(pid, counted)


class FlakyProcFS(ProcFS):
    """A ProcFS whose process scan is a FlakyPidScanner."""

    def __init__(self, root: Path, fail: dict[tuple[int, str], OSError]) -> None:
        super().__init__(root)
        self._scanner = FlakyPidScanner(self.root, fail)
