"""Filesystem collector: the mount table parser, node_exporter 1.5.0's mount selection on its own
fixture tree, stuck mounts, the rootfs rule, the psutil path, settings and this live host."""

from __future__ import annotations

import os
import re
import threading
import time
from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetscope.agent.collectors.base import CollectorContext
from fleetscope.agent.collectors.filesystem import (
    DeadlineCalls,
    FilesystemSettings,
    LinuxFilesystemCollector,
    PsutilFilesystemCollector,
    make_filesystem_collector,
    strip_rootfs,
)
from fleetscope.agent.linux.errors import ParseError
from fleetscope.agent.linux.parsers.mounts import parse_mounts
from fleetscope.agent.linux.proc import ProcFS
from fleetscope.agent.linux.sysfs import SysFS
from fleetscope.agent.settings import AgentSettings
from fleetscope.config.settings import ConfigError, settings_from
from fleetscope.model.codec import convert
from fleetscope.model.payload import FilesystemSection, Snapshot
from fleetscope.model.series import flatten_snapshot
from tests.golden import load_expected

DATA = Path(__file__).parent.parent / "data"
DEBIAN_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)


def test_mounts_parser_undoes_octal_escapes_and_names_bad_lines() -> None:
    mounts = parse_mounts(
        "/dev/sda1 /mnt/my\\040disk ext4 ro,relatime 0 0\n"
        "tank/a\\134b /srv/tab\\011here zfs rw 0 0\n"
        "none /x tmpfs rw\n"
    )
    assert [(m.device, m.mountpoint, m.readonly) for m in mounts] == [
        ("/dev/sda1", "/mnt/my disk", True),
        ("tank/a\\b", "/srv/tab\there", False),
        ("none", "/x", False),
    ]
    with pytest.raises(ParseError, match=r"/proc/1/mounts:2: .*'/dev/sdb /data ext4'"):
        parse_mounts("/dev/sda / ext4 rw 0 0\n/dev/sdb /data ext4\n")


def _fixture_context(fixtures_dir: Path) -> CollectorContext:
    tree = fixtures_dir / "node_exporter" / "tree"
    return CollectorContext(ProcFS(tree / "proc"), SysFS(tree / "sys"), tree, platform="linux")


def _node_exporter_view(path: Path) -> dict[tuple[str, str, str], bool]:
    """(device, mountpoint, fstype) -> device_error, from every node_filesystem_* series."""
    labels: dict[tuple[str, str, str], bool] = {}
    for (name, label_set), value in load_expected(path, "node_filesystem_").items():
        d = dict(label_set)
        mount = (d["device"], d["mountpoint"], d["fstype"])
        labels.setdefault(mount, False)
        if name == "node_filesystem_device_error":
            labels[mount] = value == 1
    return labels


@pytest.mark.parametrize(
    ("scrape", "settings"),
    [
        ("node_exporter_filesystem_upstream.prom", FilesystemSettings()),
        (
            "node_exporter_filesystem_debian.prom",
            FilesystemSettings(mount_points_exclude=re.compile(DEBIAN_MOUNT_POINTS_EXCLUDE)),
        ),
    ],
)
def test_mount_selection_matches_node_exporter(
    fixtures_dir: Path, scrape: str, settings: FilesystemSettings
) -> None:
    """The fixture's /proc/1/mounts has pseudo filesystems, cgroups, an initramfs rootfs, and
    mount points with \\040 and \\011; statvfs of <tree>/<mountpoint> fails where the tree has
    no such directory, which node_exporter reports as device_error 1."""
    collector = LinuxFilesystemCollector(_fixture_context(fixtures_dir), settings)
    section = collector.collect()
    ours = {(m.device, m.mountpoint, m.fstype): m.device_error for m in section.mounts}
    assert ours == _node_exporter_view(DATA / scrape)
    root = next(m for m in section.mounts if m.device == "/dev/dm-2")
    assert root.size_bytes is not None and root.size_bytes > 0 and not root.stuck
    boot = next(m for m in section.mounts if m.mountpoint == "/boot")
    assert boot.device_error and boot.size_bytes is None


def _statvfs_result(blocks: int) -> os.statvfs_result:
    # f_bsize f_frsize f_blocks f_bfree f_bavail f_files f_ffree f_favail f_flag f_namemax
    return os.statvfs_result((4096, 4096, blocks, blocks // 2, blocks // 4, 100, 60, 60, 0, 255))


def test_a_hanging_statvfs_marks_the_mount_stuck_until_it_returns(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "mounts").write_text(
        "/dev/sda1 / ext4 rw 0 0\nnfs:/export /mnt/nfs nfs4 rw 0 0\n/dev/sdb1 /data xfs ro 0 0\n"
    )
    release = threading.Event()
    calls: list[str] = []

    def statvfs(path: str) -> os.statvfs_result:
        calls.append(path)
        if path.endswith("/mnt/nfs"):
            release.wait(10)
        return _statvfs_result(1000)

    context = CollectorContext(ProcFS(proc), SysFS(tmp_path / "sys"), tmp_path, platform="linux")
    settings = FilesystemSettings(mount_timeout_seconds=0.2)
    collector = LinuxFilesystemCollector(context, settings, statvfs)
    started = time.monotonic()
    first = {m.mountpoint: m for m in collector.collect().mounts}
    assert time.monotonic() - started < 2
    assert first["/mnt/nfs"].stuck and first["/mnt/nfs"].size_bytes is None
    assert first["/"].size_bytes == 4096 * 1000 and first["/"].used_bytes == 4096 * 500
    assert first["/data"].readonly and first["/data"].avail_bytes == 4096 * 250
    second = {m.mountpoint: m for m in collector.collect().mounts}
    assert second["/mnt/nfs"].stuck
    assert sum(p.endswith("/mnt/nfs") for p in calls) == 1  # not asked again while stuck
    release.set()
    time.sleep(0.1)
    third = {m.mountpoint: m for m in collector.collect().mounts}
    assert not third["/mnt/nfs"].stuck and third["/mnt/nfs"].files == 100
    assert collector.calls.stuck == frozenset()


def test_deadline_calls_report_errors_as_values() -> None:
    def broken() -> int:
        raise PermissionError("fuse mount of another user")

    outcomes = DeadlineCalls[int](1.0).run({"a": lambda: 1, "b": broken})
    assert outcomes["a"] == 1 and isinstance(outcomes["b"], PermissionError)


def test_rootfs_prefix_is_stripped_by_whole_components(tmp_path: Path) -> None:
    assert strip_rootfs("/host", Path("/host")) == "/"
    assert strip_rootfs("/host/var", Path("/host")) == "/var"
    assert strip_rootfs("/hostdata", Path("/host")) == "/hostdata"
    assert strip_rootfs("/var", Path("/")) == "/var"
    proc = tmp_path / "proc"
    proc.mkdir()
    # hidepid hides /proc/1: the agent's own /proc/mounts, here listing the host under /host.
    (proc / "mounts").write_text("/dev/vda1 /host ext4 rw 0 0\n/dev/vdb /host/srv ext4 rw 0 0\n")
    seen: list[str] = []

    def statvfs(path: str) -> os.statvfs_result:
        seen.append(path)
        return _statvfs_result(10)

    context = CollectorContext(ProcFS(proc), SysFS(tmp_path), Path("/host"), platform="linux")
    section = LinuxFilesystemCollector(context, FilesystemSettings(), statvfs).collect()
    assert [m.mountpoint for m in section.mounts] == ["/", "/srv"]
    assert sorted(seen) == ["/host/", "/host/srv"]


def test_psutil_path_with_injected_results() -> None:
    Part = namedtuple("Part", "device mountpoint fstype opts")
    Usage = namedtuple("Usage", "total used free percent")
    parts = [
        Part("C:\\", "C:\\", "NTFS", "rw,fixed"),
        Part("D:\\", "D:\\", "CDFS", "ro,cdrom"),
        Part("/dev/disk1s1", "/System/Volumes/Data", "apfs", "rw,local"),
        Part("devfs", "/dev", "devfs", "rw"),
    ]

    def disk_usage(path: str) -> object:
        if path == "D:\\":
            raise OSError("the device is not ready")
        return Usage(1000, 400, 500, 40.0)

    section = PsutilFilesystemCollector(FilesystemSettings(), lambda: parts, disk_usage).collect()
    mounts = {m.mountpoint: m for m in section.mounts}
    assert set(mounts) == {"C:\\", "D:\\", "/System/Volumes/Data"}  # /dev excluded
    assert mounts["C:\\"].avail_bytes == 500 and mounts["C:\\"].free_bytes is None
    assert mounts["C:\\"].files is None and not mounts["C:\\"].readonly
    assert mounts["D:\\"].device_error and mounts["D:\\"].readonly


def test_settings_validate_patterns_and_reach_the_collector(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mount_points_exclude"):
        settings_from(AgentSettings, {"filesystem": {"mount_points_exclude": "^(/unclosed"}})
    with pytest.raises(ConfigError, match="bogus"):
        settings_from(AgentSettings, {"filesystem": {"bogus": 1}})
    config = tmp_path / "fleetscope.toml"
    config.write_text('[agent.filesystem]\nfs_types_exclude = "^ext4$"\n')
    settings = AgentSettings.load(config)
    assert settings.filesystem.fs_types_exclude.pattern == "^ext4$"
    context = CollectorContext(
        ProcFS(tmp_path), SysFS(tmp_path), tmp_path, "linux", settings.collector_settings()
    )
    collector = make_filesystem_collector(context)
    assert isinstance(collector, LinuxFilesystemCollector)
    assert collector.settings.fs_types_exclude.pattern == "^ext4$"


def test_flattened_like_node_filesystem() -> None:
    section = convert(
        {
            "mounts": [
                {
                    "device": "/dev/sda1",
                    "mountpoint": "/",
                    "fstype": "ext4",
                    "readonly": False,
                    "size_bytes": 100,
                    "avail_bytes": 40,
                    "files": 10,
                    "files_free": 5,
                },
                {
                    "device": "nfs:/x",
                    "mountpoint": "/mnt",
                    "fstype": "nfs4",
                    "readonly": True,
                    "stuck": True,
                },
            ]
        },
        FilesystemSection,
    )
    series = dict(flatten_snapshot(Snapshot(timestamp=datetime.now(UTC), filesystem=section)))
    labels = '{device="/dev/sda1",fstype="ext4",mountpoint="/"}'
    assert series[f"filesystem_size_bytes{labels}"] == 100
    assert series[f"filesystem_avail_bytes{labels}"] == 40
    assert series[f"filesystem_files_free{labels}"] == 5
    assert series[f"filesystem_readonly{labels}"] == 0
    assert series[f"filesystem_free_bytes{labels}"] is None  # absent, never 0
    stuck = '{device="nfs:/x",fstype="nfs4",mountpoint="/mnt"}'
    assert series[f"filesystem_stuck{stuck}"] == 1 and series[f"filesystem_readonly{stuck}"] == 1
    assert series[f"filesystem_size_bytes{stuck}"] is None


@pytest.mark.skipif(not Path("/proc/self/mounts").exists(), reason="needs Linux /proc")
def test_live_root_filesystem_matches_statvfs() -> None:
    context = CollectorContext(ProcFS("/proc"), SysFS("/sys"), Path("/"), platform="linux")
    collector = LinuxFilesystemCollector(context)
    mounts = collector.collect().mounts
    root = [m for m in mounts if m.mountpoint == "/" and not m.device_error]
    assert root, mounts
    expected = os.statvfs("/")
    assert root[-1].size_bytes == expected.f_blocks * expected.f_frsize > 0
    assert root[-1].files == expected.f_files
    assert root[-1].avail_bytes is not None and root[-1].size_bytes >= root[-1].avail_bytes
    assert not any(m.fstype in ("proc", "sysfs", "cgroup2") for m in mounts)


def test_deadline_calls_keep_one_thread_per_key_and_end_unused_ones() -> None:
    calls = DeadlineCalls[str](1.0)
    seen: dict[str, set[threading.Thread]] = {"a": set(), "b": set()}

    def record(key: str) -> str:
        seen[key].add(threading.current_thread())
        return key

    for _ in range(3):
        outcomes = calls.run({"a": lambda: record("a"), "b": lambda: record("b")})
        assert outcomes == {"a": "a", "b": "b"}
    assert len(seen["a"]) == len(seen["b"]) == 1 and seen["a"] != seen["b"]
    assert calls.threads == 2
    calls.run({"a": lambda: record("a")})  # b is no longer asked for: its thread ends
    (b_thread,) = seen["b"]
    b_thread.join(timeout=2)
    assert not b_thread.is_alive() and calls.threads == 1
    calls.close()
    (a_thread,) = seen["a"]
    a_thread.join(timeout=2)
    assert not a_thread.is_alive()


def test_a_changed_mount_table_is_parsed_again(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    table = proc / "1" / "mounts"
    table.write_text("/dev/sda1 / ext4 rw 0 0\n")
    context = CollectorContext(ProcFS(proc), SysFS(tmp_path / "sys"), tmp_path, platform="linux")
    collector = LinuxFilesystemCollector(
        context, FilesystemSettings(), lambda _: _statvfs_result(8)
    )
    assert [m.mountpoint for m in collector.collect().mounts] == ["/"]
    assert [m.mountpoint for m in collector.collect().mounts] == ["/"]
    table.write_text("/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /data xfs ro 0 0\n")
    assert [m.mountpoint for m in collector.collect().mounts] == ["/", "/data"]
    collector.close()


def test_in_memory_filesystems_are_statted_in_the_collector_thread(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "mounts").write_text(
        "/dev/sda1 / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n/dev/sdb1 /data xfs ro 0 0\n"
        "nfs:/export /mnt/nfs nfs4 rw 0 0\n"
    )
    threads: dict[str, threading.Thread] = {}

    def statvfs(path: str) -> os.statvfs_result:
        threads[path.removeprefix(str(tmp_path))] = threading.current_thread()
        if path.endswith("/data"):
            raise OSError(5, "Input/output error")
        return _statvfs_result(1000)

    context = CollectorContext(ProcFS(proc), SysFS(tmp_path / "sys"), tmp_path, platform="linux")
    collector = LinuxFilesystemCollector(context, FilesystemSettings(), statvfs)
    mounts = {m.mountpoint: m for m in collector.collect().mounts}
    here = threading.current_thread()
    assert threads["/"] is here and threads["/tmp"] is here and threads["/data"] is here
    assert threads["/mnt/nfs"] is not here and collector.calls.threads == 1
    # An error is that mount's, reported as from a worker; the others are whole.
    assert mounts["/data"].device_error and mounts["/data"].size_bytes is None
    assert mounts["/"].size_bytes == 4096 * 1000 and mounts["/mnt/nfs"].files == 100
    collector.close()


def test_only_a_table_with_a_remote_mount_may_block(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    mounts = proc / "1" / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n")
    context = CollectorContext(ProcFS(proc), SysFS(tmp_path / "sys"), tmp_path, platform="linux")
    collector = LinuxFilesystemCollector(
        context, FilesystemSettings(), lambda _p: _statvfs_result(8)
    )
    try:
        assert collector.may_block()  # the table is not known yet
        collector.collect()
        assert not collector.may_block()  # ext4 and tmpfs answer statfs from memory
        mounts.write_text("/dev/sda1 / ext4 rw 0 0\nnfs:/export /mnt/nfs nfs4 rw 0 0\n")
        assert {m.mountpoint for m in collector.collect().mounts} == {"/", "/mnt/nfs"}
        assert collector.may_block()
        mounts.write_text("/dev/sda1 / ext4 rw 0 0\n")
        collector.collect()
        assert not collector.may_block()
    finally:
        collector.close()
