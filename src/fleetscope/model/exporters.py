"""Samples scraped from Prometheus exporters, as a snapshot carries them."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from msgspec import Meta, field

from fleetscope.model.text import NAME_PATTERN
from fleetscope.model.wire import LabelName, LabelValue, NonNegative, Strict, Text

# JSON has no NaN or infinities, yet exporters expose them (a summary quantile without
# observations is NaN; a histogram bound is +Inf). On the wire they travel as the strings the
# exposition formats spell them with; in Python the value is always a float.
_NON_FINITE_FROM_WIRE = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


class NonFinite(float):
    """A NaN or infinite sample value. msgspec writes a plain NaN as null; a float subclass
    goes through the encoder's hook instead (`_enc_hook`), which spells it as on the wire."""

    __slots__ = ()


def value_to_wire(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


if TYPE_CHECKING:
    # __post_init__ turns the wire strings into floats, so code reading a sample sees a float.
    SampleValue = float
else:
    SampleValue = float | Literal["NaN", "+Inf", "-Inf"]


class ExporterSample(Strict, frozen=True, kw_only=True):
    """One sample as the exporter exposed it: the sample name (e.g. `x_bucket`, `y_total`),
    its labels, its value, and its own timestamp in seconds since the epoch when it had one."""

    name: Annotated[str, Meta(min_length=1, max_length=512, pattern=NAME_PATTERN)]
    labels: dict[LabelName, LabelValue] = field(default_factory=dict)
    value: SampleValue
    timestamp: float | None = None

    def __post_init__(self) -> None:
        value = self.value
        if isinstance(value, str):
            msgspec.structs.force_setattr(self, "value", NonFinite(_NON_FINITE_FROM_WIRE[value]))
        elif not math.isfinite(value) and not isinstance(value, NonFinite):
            msgspec.structs.force_setattr(self, "value", NonFinite(value))
        if self.timestamp is not None and not math.isfinite(self.timestamp):
            raise ValueError("timestamp: must be a finite number of seconds since the epoch")


class ExporterScrape(Strict, frozen=True, kw_only=True):
    """One scrape of one Prometheus exporter in one cycle, like Prometheus' `up` and
    `scrape_duration_seconds`. A failed scrape has `error` and no samples."""

    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
    url: Annotated[str, Meta(min_length=1, max_length=2048, pattern=NAME_PATTERN)]
    success: bool
    duration_seconds: NonNegative
    error: Text | None = None
    samples: list[ExporterSample] = field(default_factory=list)
    # What the target is, when it is more than exposition: "process-exporter" makes digest
    # turn its namedprocess_namegroup_* samples into process groups (model/process_exporter.py).
    kind: Literal["process-exporter"] | None = None
