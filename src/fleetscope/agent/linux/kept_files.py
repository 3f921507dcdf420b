"""Files a collector reads every cycle, kept open between reads (ProcFS.kept_open and
SysFS.kept_open)."""

from __future__ import annotations

import logging
import os
import weakref
from typing import Any

from fleetscope.agent.linux.fileio import pread_all, pread_to_end, read_fd

log = logging.getLogger(__name__)


class KeptFiles:
    """Files read every cycle, kept open and read again with pread at offset 0, which makes
    a seq_file (every /proc file a collector reads) show afresh, without the open's path
    walk and the close (measured: docs/architecture.md, "How agent/linux reads files"). For
    one collector's private ProcFS (ProcFS.kept_open): a file is closed only by the thread
    that reads it.

    A kept file that fails to read is closed and opened again by path, so an error is the
    one a fresh open gives, as are the contents after a file was replaced."""

    # A collector reads a handful of /proc files; a bound keeps a caller that reads many
    # different paths from holding them all open.
    LIMIT = 32

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        weakref.finalize(self, close_all, self._fds)

    def read(
        self, path: str, no_value_now: frozenset[int] = frozenset(), *, one_page: bool = False
    ) -> bytes:
        """`no_value_now`: errnos with which a read says the file has no value at the moment
        (a sysfs attribute of a link that is down answers EINVAL) rather than that it is
        broken; the file then stays open (or is kept) and the error is raised. `one_page`: a
        sysfs attribute, whose value is one show() into a page, so a kept one is read with a
        single pread (pread_all) instead of a second one that only finds the end."""
        fd = self._fds.get(path)
        if fd is not None:
            try:
                return pread_all(fd) if one_page else pread_to_end(fd)
            except OSError as exc:
                if exc.errno in no_value_now:
                    raise
                log.debug("kept file %s unreadable (%s); opening it again", path, exc)
                del self._fds[path]
                os.close(fd)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        keep = len(self._fds) < self.LIMIT
        try:
            data = read_fd(fd)
        except OSError as exc:
            if keep and exc.errno in no_value_now:
                self._fds[path] = fd
            else:
                os.close(fd)
            raise
        except BaseException:
            os.close(fd)
            raise
        if keep:
            self._fds[path] = fd
        else:
            os.close(fd)
        return data

    def forget(self, prefix: str) -> None:
        """Close the kept files whose path starts with `prefix`."""
        for path in [path for path in self._fds if path.startswith(prefix)]:
            os.close(self._fds.pop(path))

    def close(self) -> None:
        close_all(self._fds)


def close_all(kept: dict[Any, int]) -> None:
    """Close every descriptor of a map of kept files and empty it (also the finalizer of
    KeptFiles and PidScanner: one dropped without close() must not leave its files open)."""
    for fd in kept.values():
        os.close(fd)
    kept.clear()
