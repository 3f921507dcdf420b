"""Parse Prometheus text exposition (0.0.4) and OpenMetrics 1.0 into flat, typed samples.

The agent uses this for what it scrapes from exporters, and the ingest server for
POST /api/v1/ingest/prometheus, so it is a leaf package of its own.

Parsing is done by prometheus_client: ``prometheus_client.parser`` for 0.0.4 text and
``prometheus_client.openmetrics.parser`` for OpenMetrics. Measured against the 408-case
corpus in shared/fixtures/expfmt, the OpenMetrics parser agrees with every OpenMetrics
verdict except the ones listed in tests/exposition/test_exposition_corpus.py, but the 0.0.4
parser is lenient: it accepted 29 inputs that prometheus/common's ``TextParser`` (the reference for
0.0.4) rejects. A line pass before it (``_TextLint``) and a check of its output
(``_check_text_family``) add exactly the rules those cases need; each rule cites the
reference behaviour it copies. The 0.0.4 parser also rewrites counter sample names (it adds
``_total``), which ``_TextLint`` lets us undo, and it does not know ``gauge_histogram``.
Plain 0.0.4 input (the usual exporter output) takes a regex fast path in exposition/text.py
that gives the same samples without prometheus_client; anything else takes the path above.

Exemplars are dropped. OpenMetrics native-histogram samples are rejected, since a sample here
carries one float.
"""

from __future__ import annotations

from fleetscope.exposition.common import (
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_SAMPLES,
    OPENMETRICS_MEDIA_TYPE,
    ExpositionError,
    ExpositionSample,
)
from fleetscope.exposition.openmetrics import parse_openmetrics
from fleetscope.exposition.text import parse_text

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_SAMPLES",
    "OPENMETRICS_MEDIA_TYPE",
    "ExpositionError",
    "ExpositionSample",
    "parse_exposition",
]


def parse_exposition(
    text: str | bytes,
    content_type: str | None = None,
    *,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
) -> list[ExpositionSample]:
    """Parse one scrape or ingest body into samples, in exposition order.

    OpenMetrics is used when ``content_type`` is ``application/openmetrics-text`` (any
    parameters); any other content type means Prometheus text 0.0.4. Without a content type
    the text is sniffed: OpenMetrics when it ends with ``# EOF``. ``bytes`` are decoded as
    UTF-8, which both formats require.

    Raises ExpositionError for invalid input and when the input has more than
    ``max_samples`` sample lines or a line longer than ``max_line_length`` characters; both
    guards are checked before the parser builds anything.
    """
    if isinstance(text, bytes):
        text = _decode(text)
    if _is_openmetrics(text, content_type):
        return parse_openmetrics(text, max_samples, max_line_length)
    return parse_text(text, max_samples, max_line_length)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        line = data[start : end if end >= 0 else len(data)]
        raise ExpositionError(
            f"invalid UTF-8 at byte {exc.start}", line_no, line.decode("utf-8", "replace")
        ) from None


def _is_openmetrics(text: str, content_type: str | None) -> bool:
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        return media_type == OPENMETRICS_MEDIA_TYPE
    return text.endswith(("# EOF", "# EOF\n"))
