"""Parser for os-release(5): `/etc/os-release`, falling back to `/usr/lib/os-release`.

Lines are `KEY=value` with shell-style quoting (`NAME="Ubuntu"`, `ID=ubuntu`); `#` starts a
comment. shlex undoes the quoting and escapes exactly as the file format borrows them from sh.
"""

from __future__ import annotations

import shlex

from fleetscope.agent.linux.errors import ParseError

OS_RELEASE_FILES = ("etc/os-release", "usr/lib/os-release")


def parse_os_release(text: str, source: str = "/etc/os-release") -> dict[str, str]:
    values: dict[str, str] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, raw = stripped.partition("=")
        if not sep or not key.isidentifier():
            raise ParseError(source, line_no, line, "expected KEY=value")
        try:
            words = shlex.split(raw)
        except ValueError as exc:
            raise ParseError(source, line_no, line, f"bad quoting: {exc}") from exc
        values[key] = " ".join(words)
    return values
