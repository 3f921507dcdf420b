"""Filesystems: size, used, free and available bytes, inodes and the read-only flag per mount.

Linux reads the mount table with the pure parser (/proc/1/mounts, like node_exporter 1.5.0) and
calls statvfs on `rootfs + mount point` (node_exporter's --path.rootfs rule); other systems use
psutil.disk_partitions and disk_usage.

A statvfs on a dead NFS server blocks in the kernel, possibly for ever. As node_exporter does
(stuckMountWatcher), each such mount's call runs in that mount's own worker thread (kept
between cycles) with a deadline; a mount whose call overruns is reported as stuck, and is not
asked again until that call has returned. Filesystems whose statfs answers from memory
(IN_MEMORY_STATFS: ext4, xfs, tmpfs, ...) are statted in the collector's thread instead. The
mount table is parsed again only when it changed.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from functools import partial
from pathlib import Path
from typing import Annotated, Generic, TypeVar

import psutil
from msgspec import Meta
from msgspec.structs import replace

from fleetscope.agent.collectors.base import CollectorContext, collector_settings
from fleetscope.agent.linux.parsers.mounts import Mount, parse_mounts
from fleetscope.config.settings import SettingsStruct
from fleetscope.model.payload import FilesystemMount, FilesystemSection

log = logging.getLogger(__name__)

# node_exporter 1.5.0's upstream defaults (collector/filesystem_linux.go defMountPointsExcluded
# and defFSTypesExcluded). Debian's package patches the mount point default to also drop all of
# /run, /mnt and /media; we keep upstream's. rootfs is not excluded, so an initramfs `rootfs`
# line shows / twice, as in node_exporter.
DEFAULT_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
    r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs"
    r"|sysfs|tracefs)$"
)


class FilesystemSettings(SettingsStruct, frozen=True):
    """[agent.filesystem]. Patterns are searched (not fully matched), as Go's MatchString does,
    so the defaults carry their own anchors."""

    mount_points_exclude: re.Pattern[str] = re.compile(DEFAULT_MOUNT_POINTS_EXCLUDE)
    fs_types_exclude: re.Pattern[str] = re.compile(DEFAULT_FS_TYPES_EXCLUDE)
    # node_exporter waits 5 s (--collector.filesystem.mount-timeout); ours must stay below the
    # runner's collector timeout (5 s), or the whole collector would time out instead of the
    # one stuck mount being reported.
    mount_timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 2.0


T = TypeVar("T")


class Stuck:
    """The call has not returned within the deadline (this cycle or an earlier one)."""


STUCK = Stuck()


class _Worker(Generic[T]):
    """One daemon thread that runs the calls queued for one key, one after another."""

    def __init__(self, name: str) -> None:
        self.jobs: queue.SimpleQueue[tuple[Callable[[], T], Future[T]] | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name=f"statfs {name}", daemon=True).start()

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            call, future = job
            future.set_running_or_notify_cancel()
            try:
                future.set_result(call())
            except BaseException as exc:  # noqa: BLE001 (handed to the waiting collector)
                future.set_exception(exc)

    def submit(self, call: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self.jobs.put((call, future))
        return future

    def stop(self) -> None:
        self.jobs.put(None)  # after the job in hand, if it is stuck: the thread ends then


class DeadlineCalls(Generic[T]):
    """Runs one call per key in that key's own daemon thread and waits for all of them up to a
    deadline.

    Daemon threads rather than a pool: a thread blocked in the kernel cannot be cancelled, and a
    pool's threads are joined at interpreter exit, so one dead NFS mount would keep the agent from
    stopping. Each key keeps its thread from cycle to cycle while the key is asked for (starting
    a thread per call cost more than the statvfs itself); a key that is no longer asked for has
    its thread ended. A key whose call overran is not called again until that call returns."""

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout = timeout_seconds
        self._stuck: dict[str, Future[T]] = {}
        self._workers: dict[str, _Worker[T]] = {}

    def run(self, calls: dict[str, Callable[[], T]]) -> dict[str, T | BaseException | Stuck]:
        outcomes: dict[str, T | BaseException | Stuck] = {}
        started: dict[str, Future[T]] = {}
        for key, call in calls.items():
            pending = self._stuck.get(key)
            if pending is not None:
                if not pending.done():
                    log.debug("%s is still stuck; not asking again", key)
                    outcomes[key] = STUCK
                    continue
                log.info("%s has recovered; monitoring resumes", key)
                del self._stuck[key]
            worker = self._workers.get(key)
            if worker is None:
                worker = self._workers[key] = _Worker(key)
            started[key] = worker.submit(call)
        for key in self._workers.keys() - calls.keys():
            self._workers.pop(key).stop()
        wait(started.values(), timeout=self.timeout)
        for key, future in started.items():
            if not future.done():
                log.warning("%s did not answer within %g s; marked stuck", key, self.timeout)
                self._stuck[key] = future
                outcomes[key] = STUCK
                continue
            error = future.exception()
            outcomes[key] = error if error is not None else future.result()
        return outcomes

    @property
    def stuck(self) -> frozenset[str]:
        return frozenset(k for k, f in self._stuck.items() if not f.done())

    @property
    def threads(self) -> int:
        """Worker threads kept for the keys (a stuck key's included)."""
        return len(self._workers)

    def close(self) -> None:
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()


def excluded(settings: FilesystemSettings, mountpoint: str, fstype: str) -> bool:
    if settings.mount_points_exclude.search(mountpoint):
        log.debug("ignoring mount point %s", mountpoint)
        return True
    if settings.fs_types_exclude.search(fstype):
        log.debug("ignoring %s (fs type %s)", mountpoint, fstype)
        return True
    return False


def strip_rootfs(mountpoint: str, rootfs: Path) -> str:
    """The mount point as the watched host sees it: a host mounted at /host whose mounts are
    listed with /host in front (a container's own /proc) reports /, not /host.
    node_exporter's rootfsStripPrefix trims the bare string prefix (so /hostdata would become
    data); this trims whole path components only."""
    root = str(rootfs).rstrip("/")
    if not root or (mountpoint != root and not mountpoint.startswith(root + "/")):
        return mountpoint
    return mountpoint[len(root) :] or "/"


def _unique(mounts: Iterable[FilesystemMount]) -> list[FilesystemMount]:
    """One entry per (device, mount point, fs type): a mount stacked on an identical one would
    otherwise give two series with the same key. The later line is the mount on top, the one
    statvfs sees."""
    by_key = {(m.device, m.mountpoint, m.fstype): m for m in mounts}
    return list(by_key.values())


def linux_mounts(
    mounts: Iterable[Mount], settings: FilesystemSettings, rootfs: Path
) -> list[tuple[Mount, str]]:
    """(mount with the rootfs stripped, path to statvfs) of the mounts not excluded."""
    selected = []
    for mount in mounts:
        mountpoint = strip_rootfs(mount.mountpoint, rootfs)
        if excluded(settings, mountpoint, mount.fstype):
            continue
        stat_path = os.path.join(rootfs, mountpoint.lstrip("/"))
        selected.append((Mount(mount.device, mountpoint, mount.fstype, mount.options), stat_path))
    return selected


def from_statvfs(
    mount: Mount, outcome: os.statvfs_result | BaseException | Stuck
) -> FilesystemMount:
    labelled = FilesystemMount(
        device=mount.device,
        mountpoint=mount.mountpoint,
        fstype=mount.fstype,
        readonly=mount.readonly,
    )
    if isinstance(outcome, Stuck):
        return replace(labelled, stuck=True)
    if isinstance(outcome, BaseException):
        log.debug("statvfs(%s) failed: %s", mount.mountpoint, outcome)
        return replace(labelled, device_error=True)
    # f_frsize is the unit of the block counts (POSIX statvfs); Linux's f_bsize, which
    # node_exporter multiplies by, is the same number on Linux.
    unit = outcome.f_frsize
    size = outcome.f_blocks * unit
    free = outcome.f_bfree * unit
    return replace(
        labelled,
        size_bytes=size,
        used_bytes=max(size - free, 0),
        free_bytes=free,
        avail_bytes=outcome.f_bavail * unit,
        files=outcome.f_files,
        files_free=outcome.f_ffree,
    )


# Filesystems whose statfs answers from counters in memory, with no device I/O and no server
# or daemon to wait for (ext4_statfs and xfs_fs_statfs read the superblock's per-CPU
# counters; tmpfs and ramfs have no backing store): their statvfs is called in the
# collector's own thread, which saves a thread hand-off per mount per cycle (most hosts have
# only such mounts). Everything else (nfs, cifs, fuse, vfat, whose statfs may count free
# clusters on the disk, ...) keeps its own worker and deadline. Should one of these hang
# after all, the runner's deadline for the whole collector still holds.
IN_MEMORY_STATFS = frozenset({"ext2", "ext3", "ext4", "xfs", "tmpfs", "ramfs"})


def _call(statvfs: Callable[[str], os.statvfs_result], path: str) -> os.statvfs_result | Exception:
    try:
        return statvfs(path)
    except Exception as exc:  # noqa: BLE001 (reported per mount as device_error, as a worker's)
        return exc


class LinuxFilesystemCollector:
    def __init__(
        self,
        context: CollectorContext,
        settings: FilesystemSettings | None = None,
        statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
    ) -> None:
        self.procfs = context.procfs.kept_open()
        self.rootfs = context.rootfs
        self.settings = settings or collector_settings(context, "filesystem", FilesystemSettings)
        self._statvfs = statvfs
        self.calls: DeadlineCalls[os.statvfs_result] = DeadlineCalls(
            self.settings.mount_timeout_seconds
        )
        self._table: tuple[str, list[tuple[Mount, str]]] | None = None

    def _selected(self) -> list[tuple[Mount, str]]:
        """linux_mounts of the current table, reused while the table text is unchanged."""
        text, source = self.procfs.mount_table()
        if self._table is None or self._table[0] != text:
            mounts = parse_mounts(text, source)
            self._table = (text, linux_mounts(mounts, self.settings, self.rootfs))
        return self._table[1]

    def may_block(self) -> bool:
        """Only a mount outside IN_MEMORY_STATFS has something to wait for (its worker and
        deadline, up to mount_timeout_seconds); a table of local mounts only, as the last
        cycle read it, is collected without a thread hand-off. Should a remote mount appear
        in the meantime, that one cycle waits for its deadline in the caller's thread."""
        if self._table is None:
            return True
        return any(mount.fstype not in IN_MEMORY_STATFS for mount, _ in self._table[1])

    def close(self) -> None:
        self.calls.close()
        self.procfs.close()

    def collect(self) -> FilesystemSection:
        selected = self._selected()
        outcomes: dict[str, os.statvfs_result | BaseException | Stuck] = {}
        remote: dict[str, Callable[[], os.statvfs_result]] = {}
        for mount, path in selected:
            if mount.fstype in IN_MEMORY_STATFS:
                outcomes[path] = _call(self._statvfs, path)
            else:
                remote[path] = partial(self._statvfs, path)
        outcomes.update(self.calls.run(remote))
        return FilesystemSection(
            mounts=_unique(from_statvfs(mount, outcomes[path]) for mount, path in selected)
        )


class PsutilFilesystemCollector:
    """Windows, macOS and the BSDs. psutil reports no inode counts and, as `free`, the space
    available to the caller (f_bavail; GetDiskFreeSpaceExW's caller-free bytes on Windows), so
    free_bytes stays None and `free` becomes avail_bytes."""

    def __init__(
        self,
        settings: FilesystemSettings | None = None,
        disk_partitions: Callable[[], list[object]] = psutil.disk_partitions,  # type: ignore[assignment]
        disk_usage: Callable[[str], object] = psutil.disk_usage,
    ) -> None:
        self.settings = settings or FilesystemSettings()
        self._disk_partitions = disk_partitions
        self._disk_usage = disk_usage
        self.calls: DeadlineCalls[object] = DeadlineCalls(self.settings.mount_timeout_seconds)

    def close(self) -> None:
        self.calls.close()

    def collect(self) -> FilesystemSection:
        partitions = []
        for part in self._disk_partitions():
            mountpoint = str(getattr(part, "mountpoint"))  # noqa: B009 (psutil named tuple)
            fstype = str(getattr(part, "fstype"))  # noqa: B009
            if not excluded(self.settings, mountpoint, fstype):
                partitions.append(part)
        outcomes = self.calls.run(
            {
                str(getattr(p, "mountpoint")): partial(self._disk_usage, getattr(p, "mountpoint"))  # noqa: B009
                for p in partitions
            }
        )
        mounts = []
        for part in partitions:
            mountpoint = str(getattr(part, "mountpoint"))  # noqa: B009
            labelled = FilesystemMount(
                device=str(getattr(part, "device")),  # noqa: B009
                mountpoint=mountpoint,
                fstype=str(getattr(part, "fstype")),  # noqa: B009
                readonly="ro" in str(getattr(part, "opts", "")).split(","),
            )
            outcome = outcomes[mountpoint]
            if isinstance(outcome, Stuck):
                mounts.append(replace(labelled, stuck=True))
            elif isinstance(outcome, BaseException):
                log.debug("disk_usage(%s) failed: %s", mountpoint, outcome)
                mounts.append(replace(labelled, device_error=True))
            else:
                mounts.append(
                    replace(
                        labelled,
                        size_bytes=getattr(outcome, "total"),  # noqa: B009
                        used_bytes=getattr(outcome, "used"),  # noqa: B009
                        avail_bytes=getattr(outcome, "free"),  # noqa: B009
                    )
                )
        return FilesystemSection(mounts=_unique(mounts))


def make_filesystem_collector(
    context: CollectorContext,
) -> LinuxFilesystemCollector | PsutilFilesystemCollector:
    settings = collector_settings(context, "filesystem", FilesystemSettings)
    if context.linux:
        return LinuxFilesystemCollector(context, settings)
    return PsutilFilesystemCollector(settings)
