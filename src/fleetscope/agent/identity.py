"""Who this host is: a stable machine id and the hostname people use."""

from __future__ import annotations

import logging
import socket
import uuid
from pathlib import Path

from fleetscope.model.payload import HostIdentity

log = logging.getLogger(__name__)

# systemd's machine id, then D-Bus's older copy of it (machine-id(5)).
_MACHINE_ID_FILES = ("etc/machine-id", "var/lib/dbus/machine-id")
_FALLBACK_FILE = "agent-machine-id"


def host_identity(
    rootfs: Path, data_dir: Path, hostname_override: str | None = None
) -> HostIdentity:
    """`hostname_override` (the `hostname` setting, PCC_IDENTIFIER) replaces only the name:
    the machine id stays the host's own, so a renamed host keeps its history."""
    return HostIdentity(
        machine_id=machine_id(rootfs, data_dir), hostname=hostname_override or hostname(rootfs)
    )


def read_machine_id(rootfs: Path) -> str | None:
    """The OS's machine id, or None where it has none."""
    for relative in _MACHINE_ID_FILES:
        try:
            value = (rootfs / relative).read_text().strip()
        except FileNotFoundError:
            continue
        if value:
            return value
    return None


def machine_id(rootfs: Path, data_dir: Path) -> str:
    found = read_machine_id(rootfs)
    if found is not None:
        return found
    # No machine id (Windows, macOS, minimal containers): make one once and keep it, so the
    # host stays the same host across agent restarts.
    fallback = data_dir / _FALLBACK_FILE
    try:
        return fallback.read_text().strip()
    except FileNotFoundError:
        value = uuid.uuid4().hex
        data_dir.mkdir(parents=True, exist_ok=True)
        fallback.write_text(value + "\n")
        log.info("no machine id found under %s; generated %s in %s", rootfs, value, fallback)
        return value


def hostname(rootfs: Path) -> str:
    """The host's name; when watching a host mounted elsewhere (--rootfs /host), its own."""
    if rootfs != Path("/"):
        try:
            name = (rootfs / "etc/hostname").read_text().strip()
        except FileNotFoundError:
            name = ""
        if name:
            return name
    return socket.gethostname()
