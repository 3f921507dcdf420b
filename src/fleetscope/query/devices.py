"""Devices other than agents' hosts (aggregator API, pushed exposition: model/devices.py) in
the fleet summary: their own metrics over the range, since the summary's headline figures
(CPU, memory, disk, network) are an agent's and a device such as a UPS has none of them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from fleetscope.model.devices import DEVICE_MACHINE_PREFIX
from fleetscope.query.metrics import MetricQueries, SeriesStats
from fleetscope.store.tables import hosts

# A pushed node_exporter is a device of ~500 series; the summary is read at every dashboard
# refresh, so it carries the first ones by name and says how many there are.
MAX_DEVICE_METRICS = 100


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    id: int
    name: str
    metrics: list[SeriesStats]  # the device's series with a value in the range, by name
    metrics_total: int  # how many there are (metrics holds at most MAX_DEVICE_METRICS)


def device_summaries(
    metrics: MetricQueries, tenant_id: int, start_ms: int, end_ms: int
) -> list[DeviceSummary]:
    """Each device host of the tenant that has data in [start, end], by name."""
    h = hosts.c
    with metrics.engine.connect() as conn:
        found = conn.execute(
            select(h.id, h.name)
            .where(h.tenant_id == tenant_id, h.machine_id.startswith(DEVICE_MACHINE_PREFIX))
            .order_by(h.name, h.id)
        ).all()
    out = []
    for host_id, name in found:
        stats = metrics.range_stats(tenant_id, host_id, start_ms, end_ms)
        if stats:
            out.append(DeviceSummary(host_id, name, stats[:MAX_DEVICE_METRICS], len(stats)))
    return out
