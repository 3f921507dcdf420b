"""parse_exposition against the 408-case exposition corpus in shared/fixtures/expfmt.

Every case is parsed with the content type of its format (so a 0.0.4 file that happens to end
in `# EOF` is still read as 0.0.4). Valid cases must parse, invalid ones must raise
ExpositionError, and nothing else may escape. Where we deliberately differ from the manifest,
the case is listed in DISAGREEMENTS with the reason, and test_disagreements_are_exactly_listed
keeps that list from growing silently.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fleetscope.exposition.parse import ExpositionError, ExpositionSample, parse_exposition
from tests.conftest import REPO_ROOT
from tests.env import variable_for_tests

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"

_NO_NEWLINE = (
    "prometheus/prometheus' promparse accepts input without a final newline; the 0.0.4 "
    "reference, prometheus/common's TextParser, rejects it ('unexpected end of input "
    "stream', text_parse invalid_00), and so do we: a body cut off mid-line would otherwise "
    "parse as a wrong value. The corpus README names prometheus/common as the 0.0.4 "
    "reference and promparse's valid cases as 'must at least not crash'."
)

DISAGREEMENTS: dict[str, str] = {
    "prometheus_prometheus/promparse/valid_main.prom": (
        'promparse\'s lenient grammar accepts `{ quantile = "2.0" a = "b" }` with no comma '
        "between labels; prometheus/common and prometheus_client reject it. " + _NO_NEWLINE
    ),
    "prometheus_prometheus/promparse/valid_utf8_names.prom": _NO_NEWLINE,
    "prometheus_prometheus/promparse/nullbyte_00.prom": _NO_NEWLINE,
    "prometheus_prometheus/omparse/invalid_00.om": (
        "`# EOF` is a complete, empty OpenMetrics exposition. The manifest marks it invalid "
        "because it comes from TestOpenMetricsParseErrors, but upstream lists it under "
        "'Happy cases. EOF is returned by the parser at the end of valid data.' (expected "
        "error text 'EOF' is io.EOF, the clean end)."
    ),
    "prometheus_prometheus/omparse/invalid_01.om": "Same as invalid_00, with a final newline.",
    "prometheus_prometheus/testdata/alltypes.5mfs.om.txt": (
        "rpc_durations_histogram_seconds has negative bucket thresholds and a negative _sum. "
        "OpenMetrics 1.0 (Histogram): 'Negative threshold buckets MAY be used, but then the "
        "Histogram MetricPoint MUST NOT contain a sum value'. prometheus_client enforces the "
        "spec; the Prometheus server does not check it."
    ),
}

# Measured with the disagreements above: 82 valid cases, 326 invalid ones.
EXPECTED_VALID_ACCEPTED = 78
EXPECTED_INVALID_REJECTED = 324


def _fixtures_root() -> Path:
    return Path(
        variable_for_tests("FLEETSCOPE_FIXTURES", str(REPO_ROOT.parent / "shared" / "fixtures"))
    )


def _load_cases() -> list[dict[str, Any]]:
    manifest = _fixtures_root() / "expfmt" / "manifest.json"
    if not manifest.is_file():
        return []  # test_manifest_is_complete skips (or fails under CI) through fixtures_dir
    cases: list[dict[str, Any]] = json.loads(manifest.read_text())["cases"]
    return cases


CASES = _load_cases()


def _read(fixtures_dir: Path, case: dict[str, Any]) -> bytes:
    data = (fixtures_dir / "expfmt" / case["file"]).read_bytes()
    if case["file"].endswith(".gz"):
        data = gzip.decompress(data)
    return data


def _content_type(case: dict[str, Any]) -> str:
    return OPENMETRICS if case["format"].startswith("openmetrics") else TEXT


def _verdict(fixtures_dir: Path, case: dict[str, Any]) -> str:
    try:
        parse_exposition(_read(fixtures_dir, case), _content_type(case))
    except ExpositionError:
        return "invalid"
    return "valid"


def test_manifest_is_complete(fixtures_dir: Path) -> None:
    cases = json.loads((fixtures_dir / "expfmt" / "manifest.json").read_text())["cases"]
    assert len(cases) == len(CASES) == 408
    assert set(DISAGREEMENTS) <= {c["file"] for c in cases}


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_case(fixtures_dir: Path, case: dict[str, Any]) -> None:
    got = _verdict(fixtures_dir, case)
    if case["file"] in DISAGREEMENTS:
        assert got != case["verdict"], f"now agrees; drop it from DISAGREEMENTS: {case['file']}"
    else:
        assert got == case["verdict"]


def test_disagreements_are_exactly_listed(fixtures_dir: Path) -> None:
    tally: Counter[tuple[str, str]] = Counter()
    disagreements = set()
    for case in CASES:
        got = _verdict(fixtures_dir, case)
        tally[(case["verdict"], got)] += 1
        if got != case["verdict"]:
            disagreements.add(case["file"])
    assert disagreements == set(DISAGREEMENTS)
    assert tally[("valid", "valid")] == EXPECTED_VALID_ACCEPTED
    assert tally[("invalid", "invalid")] == EXPECTED_INVALID_REJECTED
    assert sum(tally.values()) - len(DISAGREEMENTS) == 402


def test_error_names_line_and_text(fixtures_dir: Path) -> None:
    case = next(c for c in CASES if c["file"].endswith("text_parse/invalid_12.prom"))
    with pytest.raises(ExpositionError) as info:
        parse_exposition(_read(fixtures_dir, case), TEXT)
    assert info.value.line_no == 3
    assert info.value.text == "# HELP metric two"
    assert str(info.value).startswith("line 3: second HELP line for 'metric'")


# --- values against prometheus/common's expected MetricFamilies ---------------------------

Row = tuple[str, str, tuple[tuple[str, str], ...], str, str]
TYPES = {
    "COUNTER": "counter",
    "GAUGE": "gauge",
    "UNTYPED": "untyped",
    "SUMMARY": "summary",
    "HISTOGRAM": "histogram",
    "GAUGE_HISTOGRAM": "gaugehistogram",
}


def _num(value: float | str) -> str:
    number = float(value)
    return "NaN" if math.isnan(number) else repr(number)


def _expected_rows(families: list[dict[str, Any]]) -> Counter[Row]:
    """Flatten Go MetricFamilies into (type, name, labels, value, bound) rows.

    bound is the le or quantile label as a number. Timestamps are left out: the reference
    keeps one per summary/histogram ("latest timestamp wins"), we keep one per line.
    """
    rows: Counter[Row] = Counter()
    for family in families:
        name, typ = family["Name"], family["Type"]
        ours = TYPES[typ]
        for metric in family["Metric"]:
            labels = tuple(sorted((lp["Name"], lp["Value"]) for lp in metric.get("Label", [])))
            if typ in ("COUNTER", "GAUGE", "UNTYPED"):
                rows[(ours, name, labels, _num(metric[typ.title()]["Value"]), "")] += 1
                continue
            body = metric["Summary" if typ == "SUMMARY" else "Histogram"]
            # Integer counts are SampleCount/CumulativeCount, fractional ones *Float.
            count = body.get("SampleCount", body.get("SampleCountFloat"))
            if count is not None:
                rows[(ours, name + "_count", labels, _num(count), "")] += 1
            if "SampleSum" in body:
                rows[(ours, name + "_sum", labels, _num(body["SampleSum"]), "")] += 1
            for q in body.get("Quantile", []):
                rows[(ours, name, labels, _num(q["Value"]), _num(q["Quantile"]))] += 1
            for b in body.get("Bucket", []):
                cumulative = b.get("CumulativeCount", b.get("CumulativeCountFloat"))
                bucket = (ours, name + "_bucket", labels, _num(cumulative), _num(b["UpperBound"]))
                rows[bucket] += 1
    return rows


def _our_rows(samples: list[ExpositionSample]) -> Counter[Row]:
    rows: Counter[Row] = Counter()
    for s in samples:
        bound_label = {"summary": "quantile"}.get(s.type, "le")
        bound = (
            s.label(bound_label) if s.type in ("summary", "histogram", "gaugehistogram") else None
        )
        labels = tuple((k, v) for k, v in s.labels if bound is None or k != bound_label)
        rows[(s.type, s.name, labels, _num(s.value), "" if bound is None else _num(bound))] += 1
    return rows


VALUE_CASES = [c for c in CASES if "expected_families" in c]


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c["file"] for c in VALUE_CASES])
def test_values_match_reference(fixtures_dir: Path, case: dict[str, Any]) -> None:
    expected = json.loads((fixtures_dir / "expfmt" / case["expected_families"]).read_text())
    samples = parse_exposition(_read(fixtures_dir, case), TEXT)
    assert _our_rows(samples) == _expected_rows(expected)
