"""OpenMetrics 1.0, parsed by prometheus_client.openmetrics.parser behind the shared size guards."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TextIO, cast

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import parser as _om_parser

from fleetscope.exposition.common import (
    LIBRARY_ERRORS,
    ExpositionError,
    ExpositionSample,
    LineCountingReader,
    check_line_length,
    check_sample_count,
    convert_metric,
    library_error,
)

# The OpenMetrics parser has no annotations; this is its documented signature.
_om_families = cast(Callable[[TextIO], Iterable[Metric]], _om_parser.text_fd_to_metric_families)


def parse_openmetrics(text: str, max_samples: int, max_line_length: int) -> list[ExpositionSample]:
    samples = 0
    for line_no, line in enumerate(text.split("\n"), 1):
        check_line_length(line_no, line, max_line_length)
        if line and line[0] != "#":
            samples += 1
            check_sample_count(samples, line_no, line, max_samples)
    reader = LineCountingReader(text)
    out: list[ExpositionSample] = []
    try:
        for metric in _om_families(reader):
            out.extend(convert_metric(metric))
    except LIBRARY_ERRORS as exc:
        if isinstance(exc, ExpositionError):
            raise
        raise library_error(reader, exc) from exc
    return out
