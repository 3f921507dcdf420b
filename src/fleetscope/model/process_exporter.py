"""prometheus-process-exporter's group metrics as our process-group records, so that a scraped
or pushed process-exporter feeds the same process-group tables and top-N views as the agent's
own grouping (agent/processes/). Pure: samples in, records out.

process-exporter (ncabatoff/process-exporter, 0.7.10 in Debian) names its group metrics
`namedprocess_namegroup_<metric>{groupname="..."}`. Its counters, like ours, count only what
happened while it watched and never go down when a process exits, so they map one to one.
Metrics the record has no field for (page faults, context switches, per-state counts, the
per-thread ones) are not mapped; a scraped target keeps them as exporter_* series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from fleetscope.model.codec import PayloadError, convert
from fleetscope.model.payload import ProcessGroup

PROCESS_EXPORTER = "process-exporter"
# What a target or a push says it is: "generic" is any exposition, kept as it is.
ExpositionKind = Literal["generic", "process-exporter"]

_PREFIX = "namedprocess_namegroup_"
# (metric, label, label value) -> ProcessGroup field; a None label means the metric has none.
_FIELDS: dict[tuple[str, str | None, str | None], str] = {
    ("num_procs", None, None): "num_procs",
    ("num_threads", None, None): "num_threads",
    ("cpu_seconds_total", "mode", "user"): "cpu_user_seconds_total",
    ("cpu_seconds_total", "mode", "system"): "cpu_system_seconds_total",
    ("read_bytes_total", None, None): "read_bytes_total",
    ("write_bytes_total", None, None): "write_bytes_total",
    ("memory_bytes", "memtype", "resident"): "resident_bytes",
    ("memory_bytes", "memtype", "virtual"): "virtual_bytes",
    ("memory_bytes", "memtype", "swapped"): "swap_bytes",
    ("open_filedesc", None, None): "open_fds",
    ("worst_fd_ratio", None, None): "worst_fd_ratio",
    ("oldest_start_time_seconds", None, None): "oldest_start_time_seconds",
}
_LABELLED = {metric: label for metric, label, _ in _FIELDS if label is not None}


def _required() -> frozenset[str]:
    """ProcessGroup's fields without a default, but the name."""
    defaults = ProcessGroup.__struct_defaults__
    fields = ProcessGroup.__struct_fields__
    return frozenset(fields[: len(fields) - len(defaults)]) - {"name"}


def process_groups(
    samples: Iterable[tuple[str, Mapping[str, str], float]],
) -> tuple[list[ProcessGroup], list[str]]:
    """(name, labels, value) samples of one scrape -> the groups it describes, by name, and
    the names of groups left out because a metric the record needs was missing (an exporter
    run with other options, or a partial scrape) or a value was out of range (a negative
    count, a name over 256 characters). Non-finite values count as missing."""
    by_group: dict[str, dict[str, Any]] = {}
    for name, labels, value in samples:
        if not name.startswith(_PREFIX):
            continue
        metric = name[len(_PREFIX) :]
        label = _LABELLED.get(metric)
        field = _FIELDS.get((metric, label, None if label is None else labels.get(label)))
        group = labels.get("groupname")
        if field is None or not group or not math.isfinite(value):
            continue
        by_group.setdefault(group, {})[field] = value
    required = _required()
    groups, incomplete = [], []
    for group, fields in sorted(by_group.items()):
        if not required <= fields.keys():
            incomplete.append(group)
            continue
        fields["num_procs"] = int(fields["num_procs"])
        fields["num_threads"] = int(fields["num_threads"])
        # Converted, not constructed: the exposition is untrusted, and the record's bounds
        # are checked here.
        try:
            groups.append(convert({"name": group, **fields}, ProcessGroup))
        except PayloadError:
            incomplete.append(group)
    return groups, incomplete
