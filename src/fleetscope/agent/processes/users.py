"""uid -> user name, cached for the life of the agent (process-exporter's lookupUid cache)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class UsernameCache:
    """Call with a uid; None when the passwd database has no such user. The agent and the host
    it watches share /etc/passwd only outside containers: with --procfs=/host/proc the names
    come from the container's database."""

    def __init__(self) -> None:
        self._names: dict[int, str | None] = {}

    def __call__(self, uid: int) -> str | None:
        if uid in self._names:
            return self._names[uid]
        # pwd is POSIX-only; this cache is used only by the /proc reader.
        import pwd  # noqa: PLC0415

        try:
            name: str | None = pwd.getpwuid(uid).pw_name
        except KeyError:
            log.debug("uid %d has no passwd entry", uid)
            name = None
        self._names[uid] = name
        return name
