"""Fixture trees with their symlinks restored."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

_LINK_TEXT = re.compile(r"^(\.\./)+[^\s]+$")


def materialize_links(source: Path, target: Path, parts: Iterable[str]) -> Path:
    """Copy parts of a fixture sys tree, turning flattened symlinks back into symlinks.

    The shared trees were extracted with each symlink stored as a small file holding its
    target (sys/class/hwmon/hwmon0 contains "../../devices/platform/coretemp.0/hwmon/hwmon0").
    node_exporter read the real links, and so must SysFS; a file is taken for a link only if
    its whole content is a relative path whose target exists in the tree."""
    for part in parts:
        shutil.copytree(source / part, target / part, symlinks=True)
    for directory, _, files in os.walk(target):
        for name in files:
            path = Path(directory) / name
            if path.stat().st_size > 512:
                continue
            text = path.read_text(errors="replace")
            if _LINK_TEXT.match(text) and (path.parent / text).exists():
                path.unlink()
                path.symlink_to(text)
    return target
