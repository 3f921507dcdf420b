"""What an analysis reads: one host's series over a time range as numpy arrays, built either from
snapshots (a collection file) or from the store's series (query/metrics.py). Both go through
the same series keys (model/series.py), so the analysis has one code path.

Absent values are NaN. Counters stay counters: the analysis derives every rate itself from
the `*_total` series, so a capture that carries only counters (perfcollector's raw /proc
text) is analysed exactly like the agent's payloads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetscope.model.inventory import InventorySection
from fleetscope.model.payload import Snapshot
from fleetscope.model.series import flatten_snapshot, series_key, split_series_key
from fleetscope.query.metrics import Series

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

# The metrics the checks read (report/cpu_memory.py, io.py, processes.py); the rest of a
# snapshot (exporter samples, temperatures, the agent's own figures) would only cost memory:
# a week read from the store is ~10,000 frames of a few hundred series each.
ANALYSED_METRICS = frozenset(
    {
        "cpu_seconds_total", "cpu_core_seconds_total", "cpu_load1", "cpu_procs_running",
        "memory_total_bytes", "memory_used_bytes", "memory_available_bytes",
        "memory_swap_used_bytes", "memory_swap_in_bytes_total", "memory_swap_out_bytes_total",
        "memory_pressure_avg10_percent",
        "disk_io_time_seconds_total", "disk_reads_completed_total", "disk_writes_completed_total",
        "disk_read_time_seconds_total", "disk_write_time_seconds_total",
        "disk_io_time_weighted_seconds_total",
        "filesystem_used_bytes", "filesystem_avail_bytes", "filesystem_readonly",
        "network_receive_bytes_total", "network_transmit_bytes_total",
        "network_speed_bits_per_second", "network_carrier", "network_up",
        "network_receive_errors_total", "network_transmit_errors_total",
        "network_receive_drops_total", "network_transmit_drops_total",
        "process_group_cpu_seconds_total", "process_group_resident_bytes",
        "process_group_read_bytes_total", "process_group_write_bytes_total",
    }
)  # fmt: skip
_WANTED: dict[str, bool] = {}


def _wanted(key: str) -> bool:
    wanted = _WANTED.get(key)
    if wanted is None:
        if len(_WANTED) > 100_000:
            _WANTED.clear()
        wanted = _WANTED[key] = key.partition("{")[0] in ANALYSED_METRICS
    return wanted


@dataclass(frozen=True, slots=True)
class SeriesRef:
    key: str
    name: str
    labels: dict[str, str]
    values: Array


@dataclass(slots=True)
class HostFrame:
    """`ts` is seconds since the epoch, ascending; every array in `series` has its length."""

    hostname: str
    ts: Array
    series: dict[str, Array]
    inventory: InventorySection | None = None
    _index: dict[str, list[SeriesRef]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, values in self.series.items():
            name, labels = split_series_key(key)
            self._index.setdefault(name, []).append(SeriesRef(key, name, labels, values))

    def __len__(self) -> int:
        return len(self.ts)

    def get(self, name: str) -> Array | None:
        """The unlabelled series `name`, or None when the host never reported it."""
        return self.series.get(name)

    def labelled(self, name: str) -> list[SeriesRef]:
        """Every series of metric `name`, in key order (deterministic)."""
        return sorted(self._index.get(name, []), key=lambda ref: ref.key)

    @property
    def interval_seconds(self) -> float | None:
        if len(self.ts) < 2:
            return None
        return float(np.median(np.diff(self.ts)))


def frame_from_snapshots(
    hostname: str,
    snapshots: Iterable[Snapshot],
    progress: Callable[[int], None] | None = None,
) -> HostFrame:
    """Snapshots in any order (duplicates of one instant keep the last); each flattened once."""
    times: list[float] = []
    columns: dict[str, list[tuple[int, float]]] = {}
    inventory: InventorySection | None = None
    for row, snapshot in enumerate(snapshots):
        times.append(snapshot.timestamp.timestamp())
        for key, value in flatten_snapshot(snapshot):
            if value is not None and _wanted(key):
                columns.setdefault(key, []).append((row, value))
        if snapshot.inventory is not None:
            inventory = snapshot.inventory
        if progress is not None:
            progress(1)
    return _assemble(hostname, times, columns, inventory)


def frame_from_series(
    hostname: str, found: Sequence[Series], inventory: InventorySection | None = None
) -> HostFrame:
    """The store's raw series (MetricQueries.host_series) as a frame."""
    instants = sorted({ts for s in found for ts, _ in s.points})
    row_of = {ts: row for row, ts in enumerate(instants)}
    columns: dict[str, list[tuple[int, float]]] = {}
    for s in found:
        key = series_key(s.metric, s.labels)
        if not _wanted(key):
            continue
        columns[key] = [(row_of[ts], v) for ts, v in s.points if v is not None]
    return _assemble(hostname, instants, columns, inventory)


def _assemble(
    hostname: str,
    times: list[float],
    columns: dict[str, list[tuple[int, float]]],
    inventory: InventorySection | None,
) -> HostFrame:
    ts = np.asarray(times, dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    # Duplicated instants (a batch replayed into a file twice): keep the last row of each.
    sorted_ts = ts[order]
    keep = np.ones(len(sorted_ts), dtype=bool)
    if len(sorted_ts) > 1:
        keep[:-1] = sorted_ts[1:] != sorted_ts[:-1]
    position = np.full(len(ts), -1, dtype=np.int64)
    position[order[keep]] = np.arange(int(keep.sum()))
    n = int(keep.sum())
    series: dict[str, Array] = {}
    for key in sorted(columns):
        pairs = columns[key]
        rows = np.fromiter((r for r, _ in pairs), dtype=np.int64, count=len(pairs))
        vals = np.fromiter((v for _, v in pairs), dtype=np.float64, count=len(pairs))
        target = position[rows]
        mask = target >= 0
        array = np.full(n, np.nan)
        array[target[mask]] = vals[mask]
        series[key] = array
    return HostFrame(hostname, sorted_ts[keep], series, inventory)
