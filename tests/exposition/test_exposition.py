"""parse_exposition values, format selection, errors and size guards."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from fleetscope.exposition.parse import ExpositionError, ExpositionSample, parse_exposition

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# The 2478 sample lines of node_exporter 1.5.0's scrape of its own fixture tree
# (`grep -c '^[^#]' expected_metrics.txt`).
NODE_EXPORTER_SAMPLES = 2478


def _one(samples: list[ExpositionSample], name: str, **labels: str) -> ExpositionSample:
    found = [s for s in samples if s.name == name and dict(s.labels) == labels]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_node_exporter_scrape(fixtures_dir: Path) -> None:
    text = (fixtures_dir / "node_exporter" / "expected_metrics.txt").read_text()
    samples = parse_exposition(text, "text/plain; version=0.0.4; charset=utf-8")
    assert len(samples) == NODE_EXPORTER_SAMPLES

    idle = _one(samples, "node_cpu_seconds_total", cpu="0", mode="idle")
    assert idle == ExpositionSample(
        family="node_cpu_seconds",
        name="node_cpu_seconds_total",
        type="counter",
        labels=(("cpu", "0"), ("mode", "idle")),
        value=10870.69,
        timestamp=None,
    )
    # Go's %g exponent form (fixtures README quirk 9).
    boot = _one(samples, "node_boot_time_seconds")
    assert (boot.type, boot.value) == ("gauge", 1418183276.0)
    assert _one(samples, "node_disk_io_time_seconds_total", device="sda").value == (
        9653.880000000001
    )
    info = _one(
        samples,
        "node_cpu_info",
        cachesize="8192 KB",
        core="0",
        cpu="0",
        family="6",
        microcode="0xb4",
        model="142",
        model_name="Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz",
        package="0",
        stepping="10",
        vendor="GenuineIntel",
    )
    assert info.value == 1.0
    assert info.label("model_name") == "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz"
    assert info.label("nope") is None

    quantiles = [s for s in samples if s.family == "go_gc_duration_seconds"]
    assert [(s.name, s.label("quantile")) for s in quantiles] == [
        ("go_gc_duration_seconds", "0"),
        ("go_gc_duration_seconds", "0.25"),
        ("go_gc_duration_seconds", "0.5"),
        ("go_gc_duration_seconds", "0.75"),
        ("go_gc_duration_seconds", "1"),
        ("go_gc_duration_seconds_sum", None),
        ("go_gc_duration_seconds_count", None),
    ]
    assert {s.type for s in quantiles} == {"summary"}


def test_sample_is_frozen_and_slotted() -> None:
    sample = parse_exposition("a 1\n")[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.value = 2.0  # type: ignore[misc]
    assert not hasattr(sample, "__dict__")


HISTOGRAM = """\
# HELP http_request_duration_seconds Request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{handler="/",le="0.1"} 3
http_request_duration_seconds_bucket{handler="/",le="1"} 7
http_request_duration_seconds_bucket{handler="/",le="+Inf"} 9
http_request_duration_seconds_sum{handler="/"} 4.5
http_request_duration_seconds_count{handler="/"} 9
"""


def test_histogram() -> None:
    samples = parse_exposition(HISTOGRAM)
    assert {(s.family, s.type) for s in samples} == {("http_request_duration_seconds", "histogram")}
    assert [(s.name, s.label("le"), s.value) for s in samples] == [
        ("http_request_duration_seconds_bucket", "0.1", 3.0),
        ("http_request_duration_seconds_bucket", "1", 7.0),
        ("http_request_duration_seconds_bucket", "+Inf", 9.0),
        ("http_request_duration_seconds_sum", None, 4.5),
        ("http_request_duration_seconds_count", None, 9.0),
    ]
    assert samples[0].labels == (("handler", "/"), ("le", "0.1"))


def test_openmetrics_histogram_summary_and_timestamps() -> None:
    text = (
        "# TYPE rpc_seconds summary\n"
        'rpc_seconds{quantile="0.5"} 0.25 1700000000.5\n'
        "rpc_seconds_sum 10.0 1700000000.5\n"
        "rpc_seconds_count 40 1700000000.5\n"
        "# TYPE req histogram\n"
        'req_bucket{le="1.0"} 2 # {trace_id="abc"} 0.5\n'
        'req_bucket{le="+Inf"} 3\n'
        "req_count 3\n"
        "req_sum 2.5\n"
        "# TYPE jobs counter\n"
        "jobs_total 7\n"
        "jobs_created 1.7e9\n"
        "# EOF\n"
    )
    samples = parse_exposition(text, OPENMETRICS)
    assert parse_exposition(text) == samples  # sniffed from the final `# EOF`
    summary = _one(samples, "rpc_seconds", quantile="0.5")
    assert (summary.family, summary.type, summary.value) == ("rpc_seconds", "summary", 0.25)
    assert summary.timestamp == 1700000000.5  # OpenMetrics timestamps are seconds
    bucket = _one(samples, "req_bucket", le="1.0")  # the exemplar is dropped
    assert (bucket.family, bucket.type, bucket.value) == ("req", "histogram", 2.0)
    total = _one(samples, "jobs_total")
    assert (total.family, total.type, total.value) == ("jobs", "counter", 7.0)


def test_text_timestamps_are_milliseconds() -> None:
    samples = parse_exposition("a 1 1700000000123\nb 2 -2\nc 3\n")
    assert [s.timestamp for s in samples] == [1700000000.123, -0.002, None]


def test_escaped_label_values() -> None:
    text = 'm{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb"} 1\n'
    (sample,) = parse_exposition(text)
    assert dict(sample.labels) == {"path": "C:\\dir", "quote": 'say "hi"', "nl": "a\nb"}
    assert [k for k, _ in sample.labels] == ["nl", "path", "quote"]


def test_special_values() -> None:
    text = "a NaN\nb +Inf\nc -Inf\nd 1.5e-3\n"
    a, b, c, d = (s.value for s in parse_exposition(text))
    assert math.isnan(a)
    assert (b, c, d) == (math.inf, -math.inf, 0.0015)


def test_counter_keeps_its_exposed_name() -> None:
    # prometheus_client renames `legacy` to `legacy_total`; we keep what was exposed.
    text = "# TYPE legacy counter\nlegacy 3\n# TYPE modern_total counter\nmodern_total 4\n"
    got = [(s.family, s.name, s.type) for s in parse_exposition(text)]
    assert got == [("legacy", "legacy", "counter"), ("modern", "modern_total", "counter")]


def test_gauge_histogram_in_text() -> None:
    text = HISTOGRAM.replace("histogram\n", "gauge_histogram\n", 1)
    samples = parse_exposition(text)
    assert len(samples) == 5
    assert {s.type for s in samples} == {"gaugehistogram"}


def test_content_type_decides_over_sniffing() -> None:
    # A 0.0.4 body may end in `# EOF` (prometheus testdata alltypes.237mfs.prom.txt); with a
    # text/plain content type it is a comment, and OpenMetrics rules such as "no blank
    # lines" do not apply.
    text = "a 1\n\nb 2\n# EOF\n"
    assert len(parse_exposition(text, "text/plain; version=0.0.4")) == 2
    with pytest.raises(ExpositionError, match="blank line"):
        parse_exposition(text)


def test_bytes_are_utf8() -> None:
    assert parse_exposition('a{b="ü"} 1\n'.encode())[0].labels == (("b", "ü"),)
    with pytest.raises(ExpositionError) as info:
        parse_exposition(b'ok 1\nbad{l="\xff"} 1\n')
    assert info.value.line_no == 2
    assert "invalid UTF-8" in str(info.value)


def test_library_error_names_the_line() -> None:
    with pytest.raises(ExpositionError) as info:
        parse_exposition("a 1\nb 2\nc not-a-number\n")
    assert (info.value.line_no, info.value.text) == (3, "c not-a-number")
    assert str(info.value).startswith("line 3: ")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a 1", "does not end with a newline"),
        ('a{l="\\t"} 1\n', "invalid escape sequence"),
        ("a 1 2.5\n", "expected integer as timestamp"),
        ("a 1 2 3\n", "spurious string after timestamp"),
        ("a 1\n# TYPE a gauge\n", "TYPE after its samples"),
        ("# TYPE a info\na 1\n", "unknown metric type"),
        ('# TYPE s summary\ns{quantile="x"} 1\n', "'quantile'"),
        ('# TYPE h histogram\nh_bucket{le="1_0"} 1\n', "'le'"),
        ('# TYPE h histogram\nh_bucket{le="1"} -1\n', "negative bucket population"),
        # Interrupted family: still checked (the reference finds families by name).
        ("# TYPE h histogram\nother 1\nh_count -1\n", "negative count"),
    ],
)
def test_reference_rules(text: str, reason: str) -> None:
    with pytest.raises(ExpositionError, match=reason):
        parse_exposition(text)


def test_too_many_samples() -> None:
    text = "".join(f'm{{i="{i}"}} {i}\n' for i in range(11))
    assert len(parse_exposition(text, max_samples=11)) == 11
    with pytest.raises(ExpositionError, match="more than 10 samples") as info:
        parse_exposition(text, max_samples=10)
    assert info.value.line_no == 11
    with pytest.raises(ExpositionError, match="more than 10 samples"):
        parse_exposition(text + "# EOF\n", OPENMETRICS, max_samples=10)


def test_too_long_line() -> None:
    text = f'm{{v="{"x" * 100}"}} 1\n'
    assert parse_exposition(text, max_line_length=len(text) - 1)
    with pytest.raises(ExpositionError, match="more than the limit of 50") as info:
        parse_exposition("ok 1\n" + text, max_line_length=50)
    assert info.value.line_no == 2
    assert info.value.text is not None
    assert str(info.value).endswith("...'") or len(info.value.text) <= 200
    with pytest.raises(ExpositionError, match="more than the limit of 50"):
        parse_exposition("# HELP m " + "y" * 60 + "\n# EOF\n", OPENMETRICS, max_line_length=50)


@pytest.mark.parametrize(
    "text", ["a 1" + "0" * 400 + "\n", "a 1 1" + "0" * 400 + "\n"], ids=["value", "timestamp"]
)
def test_a_number_too_large_for_a_float_is_an_exposition_error(text: str) -> None:
    """prometheus_client's 0.0.4 parser raised OverflowError for an integer of 401 digits,
    which escaped as a 500 at the push door and as a crashed scrape in the agent.
    (OpenMetrics reads such a value as +Inf, as a float does.)"""
    with pytest.raises(ExpositionError) as caught:
        parse_exposition(text, "text/plain; version=0.0.4")
    assert caught.value.line_no == 1
