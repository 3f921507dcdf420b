"""The building blocks of every payload record: the two Struct bases (metric sections and the
audit-style inventory) and the annotated types that carry the wire rules of numbers, text and
times. model/payload.py, model/inventory.py, model/exporters.py and model/payload_kernel.py
build on them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from fleetscope.model.text import NAME_PATTERN, TEXT_PATTERN

NonNegative = Annotated[float, Meta(ge=0)]
Percent = Annotated[float, Meta(ge=0, le=100)]


# Every string carries the rules of model/text.py: names no control characters, free text no
# U+0000 (PostgreSQL refuses it).
Text = Annotated[str, Meta(pattern=TEXT_PATTERN)]
LabelName = Annotated[str, Meta(min_length=1, max_length=128, pattern=NAME_PATTERN)]
LabelValue = Annotated[str, Meta(max_length=1024, pattern=NAME_PATTERN)]


# Times on the wire are RFC 3339 with an offset; a naive time would be read in the server's
# zone, so it is refused.
AwareDatetime = Annotated[datetime, Meta(tz=True)]


class Strict(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Metric sections. A field at its default (None, an empty list, False) is left out of the
    JSON, which decoding fills in again; it keeps the spool and the uploads smaller.

    msgspec does not inherit kw_only (which keeps the fields in wire order, optional ones
    between required ones) and mypy does not see frozen inherited, so every Struct repeats
    both."""


class Audit(msgspec.Struct, frozen=True, kw_only=True):
    """The inventory is stored and served as the agent sent it (web/routes/hosts.py;
    store/inventory.py diffs it key by key), so its JSON keeps every key, absent parts as null."""
