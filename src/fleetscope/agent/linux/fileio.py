"""The low-level reads under /proc and /sys that ProcFS, SysFS, KeptFiles and the process
scan share, and the check of which filesystem a root is on (a live procfs or sysfs, or a
fixture tree), which decides whether files may be kept open between reads."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

# Reads continue until one returns nothing: a seq_file hands out at most its buffer (a page at
# first) per read() whatever was asked (fs/seq_file.c seq_read_iter), so a short read is not
# the end of /proc/net/tcp.
READ_BYTES = 16384


def read_file(path: str) -> bytes:
    """The whole file. os.open/os.read rather than open(): no buffered file object and no
    decoder per file (docs/architecture.md, "How agent/linux reads files", has the cost of
    each). Files under /proc and /sys report size 0, so this reads until EOF rather than
    trusting stat()."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return read_fd(fd)
    finally:
        os.close(fd)


def read_fd(fd: int) -> bytes:
    data = os.read(fd, READ_BYTES)
    if not data:
        return data
    chunks = [data]
    while chunk := os.read(fd, READ_BYTES):
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_file_text(path: str) -> str:
    return read_file(path).decode("utf-8", errors="replace")


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def pread_to_end(fd: int) -> bytes:
    """The whole file from offset 0, read until a read returns nothing (a seq_file may hand
    out a page per read, see READ_BYTES)."""
    data = os.pread(fd, READ_BYTES, 0)
    if not data:
        return data
    chunks = [data]
    offset = len(data)
    while chunk := os.pread(fd, READ_BYTES, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def pread_all(fd: int) -> bytes:
    """A single_open /proc/<pid> file from offset 0: a read shorter than asked is all of it
    (PidScanner._pid_bytes)."""
    data = os.pread(fd, READ_BYTES, 0)
    if len(data) < READ_BYTES:
        return data
    chunks = [data]
    while chunk := os.pread(fd, READ_BYTES, sum(map(len, chunks))):
        chunks.append(chunk)
    return b"".join(chunks)


def on_procfs(root: Path) -> bool:
    """Whether `root` is a mounted proc filesystem (not a fixture tree): the mount that holds
    it, per this process's mountinfo (proc(5)), has type proc."""
    return mount_type(root) == "proc"


def mount_type(root: Path) -> str:
    """The filesystem type of the mount that holds `root`, per this process's mountinfo;
    "" when that cannot be read."""
    try:
        target = os.path.realpath(root)
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        log.debug("cannot tell the filesystem of %s: %s", root, exc)
        return ""
    best, fstype = "", ""
    for line in lines:
        fields, _, after = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not after:
            continue
        mountpoint = parts[4]
        inside = target == mountpoint or target.startswith(mountpoint.rstrip("/") + "/")
        if inside and len(mountpoint) >= len(best):
            best, fstype = mountpoint, after.split()[0]
    return fstype
