"""What both exposition parsers share: the samples they produce, the error they raise, and the
size guards and line bookkeeping around prometheus_client's parsers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric

OPENMETRICS_MEDIA_TYPE = "application/openmetrics-text"
# node_exporter on a large host exposes a few thousand samples; kube-state-metrics on a big
# cluster a few hundred thousand. Beyond that a scrape is far more likely a broken exporter.
DEFAULT_MAX_SAMPLES = 500_000
# Real lines are a few hundred bytes; long label values (build info, paths) stay below this.
DEFAULT_MAX_LINE_LENGTH = 64 * 1024

# Exceptions prometheus_client's parsers raise on malformed input besides ValueError
# (e.g. IndexError from `parts[1]` on a lone "#"; OverflowError from an integer value or
# timestamp of hundreds of digits, too large for a float), all turned into ExpositionError.
LIBRARY_ERRORS = (ValueError, IndexError, KeyError, TypeError, AttributeError, OverflowError)

_SHOWN_TEXT = 200


class ExpositionError(ValueError):
    """The input is not valid exposition text, or it exceeds a size guard.

    ``line_no`` (1-based) and ``text`` say where, when known; ``reason`` says what.
    """

    def __init__(self, reason: str, line_no: int | None = None, text: str | None = None) -> None:
        self.reason = reason
        self.line_no = line_no
        self.text = text
        where = "" if line_no is None else f"line {line_no}: "
        shown = ""
        if text is not None:
            cut = text if len(text) <= _SHOWN_TEXT else text[:_SHOWN_TEXT] + "..."
            shown = f": {cut!r}"
        super().__init__(f"{where}{reason}{shown}")


@dataclass(frozen=True, slots=True)
class ExpositionSample:
    """One sample line of an exposition.

    ``family`` is the metric family in the OpenMetrics data model, as prometheus_client
    reports it: a counter family has no ``_total`` (sample ``http_requests_total`` belongs to
    family ``http_requests``); a histogram's ``x_bucket``, ``x_sum`` and ``x_count`` belong
    to ``x``. ``name`` is the sample name exactly as exposed. ``type`` is ``counter``,
    ``gauge``, ``histogram``, ``gaugehistogram``, ``summary`` or ``untyped`` (0.0.4), and in
    OpenMetrics also ``unknown``, ``info`` or ``stateset``. ``labels`` are sorted by name;
    ``timestamp`` is in seconds since the epoch, ``None`` when the line has none.
    """

    family: str
    name: str
    type: str
    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp: float | None = None

    def label(self, name: str) -> str | None:
        """The value of label ``name``, or None when the sample does not have it."""
        for key, value in self.labels:
            if key == name:
                return value
        return None


class LineCountingReader(io.StringIO):
    """Lets an error from prometheus_client's line loop say which line it was reading."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.line_no = 0
        self.line = ""

    # typeshed declares IOBase.__next__ as returning bytes; a StringIO yields str.
    def __next__(self) -> str:  # type: ignore[override]
        self.line = super().__next__()
        self.line_no += 1
        return self.line


def library_error(reader: LineCountingReader, exc: Exception) -> ExpositionError:
    reason = str(exc) or type(exc).__name__
    return ExpositionError(
        f"while reading this line: {reason}", reader.line_no, reader.line.rstrip("\n")
    )


def check_line_length(line_no: int, line: str, max_line_length: int) -> None:
    if len(line) > max_line_length:
        raise ExpositionError(
            f"line is {len(line)} characters long, more than the limit of {max_line_length}",
            line_no,
            line,
        )


def check_sample_count(count: int, line_no: int, line: str, max_samples: int) -> None:
    if count > max_samples:
        raise ExpositionError(f"more than {max_samples} samples", line_no, line)


def convert_metric(metric: Metric) -> Iterator[ExpositionSample]:
    for sample in metric.samples:
        if sample.native_histogram is not None:
            raise ExpositionError(
                f"native histogram sample {sample.name!r} is not supported (one float per sample)"
            )
        timestamp = None if sample.timestamp is None else float(sample.timestamp)
        yield ExpositionSample(
            family=metric.name,
            name=sample.name,
            type=metric.type,
            labels=tuple(sorted(sample.labels.items())),
            value=float(sample.value),
            timestamp=timestamp,
        )
