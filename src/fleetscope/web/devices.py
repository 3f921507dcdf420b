"""The fleet summary's devices section (query/devices.py), as the read API answers it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fleetscope.query.devices import DeviceSummary


class DeviceMetricOut(BaseModel):
    metric: str
    labels: dict[str, str]
    avg: float = Field(description="mean of the samples in the range")
    min: float
    max: float
    samples: int = Field(description="samples in the range")


class DeviceSummaryOut(BaseModel):
    id: int
    name: str
    metrics: list[DeviceMetricOut] = Field(
        description="the device's own series, by name: the first 100 (metrics_total says how "
        "many it has; the report API reads them all)"
    )
    metrics_total: int

    @staticmethod
    def of(device: DeviceSummary) -> DeviceSummaryOut:
        return DeviceSummaryOut(
            id=device.id,
            name=device.name,
            metrics=[
                DeviceMetricOut(
                    metric=s.metric,
                    labels=s.labels,
                    avg=s.avg,
                    min=s.min,
                    max=s.max,
                    samples=s.count,
                )
                for s in device.metrics
            ],
            metrics_total=device.metrics_total,
        )
