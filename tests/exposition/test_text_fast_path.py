"""parse_text's regex fast path against the full path (_TextLint + prometheus_client + checks).

The fast path must give exactly what the full path gives: the same samples (values compared
NaN-aware, -0.0 apart from 0.0) or, when it hands the input over, the same error. Checked on
every input of the expfmt corpus, on the node_exporter and process_exporter scrapes (which
must take the fast path: that is the speed-up), and on generated inputs.
"""

from __future__ import annotations

import gzip
import json
import math
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fleetscope.exposition.common import (
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_SAMPLES,
    ExpositionError,
    ExpositionSample,
)
from fleetscope.exposition.text import _parse_text_fast, _parse_text_full, parse_text
from tests.conftest import REPO_ROOT
from tests.env import variable_for_tests

Outcome = tuple[str, object]


def _fixtures_root() -> Path:
    return Path(
        variable_for_tests("FLEETSCOPE_FIXTURES", str(REPO_ROOT.parent / "shared" / "fixtures"))
    )


def _key(value: float | None) -> object:
    """A value that compares equal exactly when the floats are the same (NaN, -0.0)."""
    if value is None:
        return None
    return "NaN" if math.isnan(value) else (value, math.copysign(1.0, value))


def _sample_key(s: ExpositionSample) -> tuple[object, ...]:
    return (s.family, s.name, s.type, s.labels, _key(s.value), _key(s.timestamp))


def _outcome(parse: object, text: str, max_samples: int, max_line_length: int) -> Outcome:
    assert callable(parse)
    try:
        samples = parse(text, max_samples, max_line_length)
    except ExpositionError as exc:
        return "error", (exc.reason, exc.line_no, exc.text)
    except (ValueError, OverflowError) as exc:  # whatever the full path lets escape
        return "exception", (type(exc).__name__, str(exc))
    return "samples", [_sample_key(s) for s in samples]


def _assert_same(
    text: str,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
) -> bool:
    """Whether the fast path took ``text``; fails when it differs from the full path."""
    full = _outcome(_parse_text_full, text, max_samples, max_line_length)
    assert _outcome(parse_text, text, max_samples, max_line_length) == full
    fast = _parse_text_fast(text, max_samples, max_line_length)
    if fast is None:
        return False
    assert full == ("samples", [_sample_key(s) for s in fast])
    return True


def _corpus() -> list[tuple[str, str]]:
    root = _fixtures_root() / "expfmt"
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return []
    out = []
    for case in json.loads(manifest.read_text())["cases"]:
        data = (root / case["file"]).read_bytes()
        if case["file"].endswith(".gz"):
            data = gzip.decompress(data)
        try:
            out.append((case["file"], data.decode("utf-8")))
        except UnicodeDecodeError:
            continue  # parse_exposition rejects it before parse_text
    return out


CORPUS = _corpus()


def test_corpus_fast_path_agrees_with_full_path(fixtures_dir: Path) -> None:
    assert len(CORPUS) > 390, "expfmt corpus missing or short"
    taken = [name for name, text in CORPUS if _assert_same(text)]
    # Every input, OpenMetrics ones included, is checked. Most are invalid or odd on purpose;
    # the fast path takes the 16 plain ones (valid_00, valid_04, ...).
    assert len(taken) >= 16, taken


@pytest.mark.parametrize(
    "path",
    [
        "node_exporter/expected_metrics.txt",
        "process_exporter/expected_metrics_upstream_fixture.txt",
    ],
)
def test_exporter_scrapes_take_the_fast_path(fixtures_dir: Path, path: str) -> None:
    text = (fixtures_dir / path).read_text()
    assert _assert_same(text)
    # The size guards hand the input over, and the full path raises.
    samples = len(_parse_text_full(text, DEFAULT_MAX_SAMPLES, DEFAULT_MAX_LINE_LENGTH))
    assert not _assert_same(text, max_samples=samples - 1)
    longest = max(len(line) for line in text.split("\n"))
    assert not _assert_same(text, max_line_length=longest - 1)
    assert _assert_same(text, max_samples=samples, max_line_length=longest)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "a -0\nb -0.0\nc +0\nd 0 -0\ne -0e0\n",
        "a NaN\nb +Inf\nc -Inf\nd Inf\ne 1.\nf .5\ng 1e3\nh 007\n",
        "a 1" + "0" * 400 + "\n",  # too large for a float: an ExpositionError
        "a 1 1" + "0" * 400 + "\n",
        "a 1e999\n",
        "a 9007199254740993\nb 9007199254740993 1\n",
        '# TYPE x counter\nx{a="1"} 1\nx_total 2\n# TYPE y_total counter\ny_total 3\n',
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n',
        '# TYPE h histogram\nh_bucket{le="x"} 1\n',
        '# TYPE h histogram\nh_bucket{le="1"} -1\n',
        "# TYPE h histogram\nh_count -1\n",
        '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 1\ns_count 1\n',
        '# TYPE s summary\ns{quantile="bla"} 1\n',
        "# TYPE s summary\ns_bucket 1\n",
        "x_bucket 1\n# TYPE x histogram\n",
        "x 1\n# TYPE x gauge\n",
        "# TYPE x gauge\n# TYPE x gauge\n",
        "# HELP x one\n# HELP x two\n",
        "# HELP x\n# HELP x \n# HELP x two\n",
        '# HELP x a "quoted b c\nx 1\n',
        "# HELP x a\\nb\nx 1\n",
        "# HELP x a\\tb\nx 1\n",
        '# TYPE x gauge_histogram\nx_bucket{le="1"} 1\n',
        "# TYPE x info\n",
        "# TYPE x\n",
        "# comment\nx 1\n",
        "#HELP x y\n",
        'x{a="1",a="2"} 1\n',
        'x{__name__="y"} 1\n',
        'x{__a="y"} 1\n',
        'x{a="}{,= # "} 1\n',
        'x{a=""} 1\n',
        'x{a="\u00e9\u2028\x85\r"} 1\n',
        'x{a="1",} 1\n',
        "x{} 1\n",
        "x 1 2 3\n",
        "x 1 2.5\n",
        "x 1_0\n",
        "x \u0661\n",
        "x  1\n",
        "x\t1\n",
        " x 1\n",
        "x 1\r\n",
        "x 1",
        "x 1\n ",
        "x 1\n\t\n",
    ],
)
def test_edge_cases_agree(text: str) -> None:
    _assert_same(text)


# --- generated inputs --------------------------------------------------------------------

_NAMES = ["a", "x", "x_total", "h", "s", "c:d", "_u", "9bad", "met-ric"]
_PLAIN_NAMES = _NAMES[:-2]
_SUFFIXES = ["", "", "", "_total", "_count", "_sum", "_bucket"]
_LABEL_NAMES = ["a", "b", "le", "quantile", "_x", "__name__", "__r", "9l", "é"]
_PLAIN_LABEL_NAMES = _LABEL_NAMES[:5]
_VALUES = [
    "0", "-0", "+0", "1", "-1", "007", "1.5", "-2.25", ".5", "1.", "1e3", "1E-3", "-0.0",
    "-0e0", "NaN", "nan", "+Inf", "-Inf", "Inf", "inf", "+inf", "Infinity", "1_0", "0x1p-3",
    "1e999", "9007199254740993", "1" + "0" * 320, "\u0661", "", "abc",
]  # fmt: skip
_PLAIN_VALUES = _VALUES[:20]
_TIMESTAMPS = ["0", "-0", "1", "-5", "+7", "1700000000000", "2.5", "1e3", "x", "1" * 330]
_PLAIN_TIMESTAMPS = _TIMESTAMPS[:6]
_TYPES = ["counter", "gauge", "histogram", "summary", "untyped", "gauge_histogram", "info", ""]
_PLAIN_TYPES = _TYPES[:5]

_plain_label_value = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters='"\\\n'), max_size=6),
    st.sampled_from(["0.5", "1", "+Inf", "bla", "-1e3", "NaN"]),
)
_label_value = st.one_of(
    _plain_label_value,
    st.text(max_size=6).map(lambda v: v.replace("\n", "")),
    st.lists(st.sampled_from(["a", "\\\\", '\\"', "\\n", "\\t", "}", ",", "=", " # "])).map(
        "".join
    ),
)


@st.composite
def _number(draw: st.DrawFn, plain: bool) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(_PLAIN_VALUES if plain else _VALUES))
    if draw(st.booleans()):
        return str(draw(st.integers(-(10**20), 10**20)))
    number = draw(st.floats(allow_nan=True, allow_infinity=True))
    return draw(st.sampled_from([repr(number), f"{number:g}", f"{number:e}", f"{number:.17g}"]))


@st.composite
def _sample_line(draw: st.DrawFn, plain: bool) -> str:
    """A sample line; a plain one is of the shapes the fast path takes, mostly."""
    name = draw(st.sampled_from(_PLAIN_NAMES if plain else _NAMES))
    name += draw(st.sampled_from(_SUFFIXES))
    labels = ""
    if draw(st.integers(0, 3)):
        label_names = st.sampled_from(_PLAIN_LABEL_NAMES if plain else _LABEL_NAMES)
        label_value = _plain_label_value if plain else _label_value
        pairs = draw(
            st.lists(
                st.tuples(label_names, label_value),
                max_size=3,
                unique_by=(lambda pair: pair[0]) if plain else None,
            )
        )
        labels = "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"
        if pairs and not plain and draw(st.integers(0, 9)) == 0:
            labels = labels[:-1] + ",}"
    sep = " " if plain else draw(st.sampled_from([" ", " ", " ", " ", "\t", "  "]))
    line = f"{name}{labels}{sep}{draw(_number(plain))}"
    if draw(st.booleans()):
        timestamps = _PLAIN_TIMESTAMPS if plain else _TIMESTAMPS
        timestamp = draw(
            st.one_of(st.sampled_from(timestamps), st.integers(-(10**15), 10**15).map(str))
        )
        line += f" {timestamp}"
    return line


@st.composite
def _metadata_line(draw: st.DrawFn, plain: bool) -> str:
    name = draw(st.sampled_from(_PLAIN_NAMES if plain else _NAMES))
    name += draw(st.sampled_from(["", "", "_total", "_bucket"]))
    if draw(st.booleans()):
        typ = draw(st.sampled_from(_PLAIN_TYPES if plain else _TYPES))
        return f"# TYPE {name} {typ}".rstrip()
    text = draw(st.one_of(st.just(""), st.text(max_size=8).map(lambda v: v.replace("\n", ""))))
    return f"# HELP {name} {text}".rstrip(" ") if text or draw(st.booleans()) else f"# HELP {name}"


@st.composite
def _document(draw: st.DrawFn) -> str:
    plain = draw(st.booleans())
    odd_lines = st.sampled_from([""] if plain else ["", "# plain comment", " ", "#"])
    lines = draw(
        st.lists(
            st.one_of(
                _sample_line(plain),
                _sample_line(plain),
                _sample_line(plain),
                _metadata_line(plain),
                odd_lines,
            ),
            max_size=12,
        )
    )
    endings = ["\n"] if plain else ["\n", "\n", "", "\n ", "\r\n"]
    ending = draw(st.sampled_from(endings))
    return "\n".join(lines) + ending


@settings(
    max_examples=1000,
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_document(), st.sampled_from([DEFAULT_MAX_SAMPLES, DEFAULT_MAX_SAMPLES, 3]))
def test_generated_inputs_agree(text: str, max_samples: int) -> None:
    taken = _assert_same(text, max_samples=max_samples)
    event("fast path" if taken else "full path")


def _scrape_lines(name: str, limit: int) -> list[str]:
    path = _fixtures_root() / name
    return path.read_text().split("\n")[:limit] if path.is_file() else []


# Real exporters' lines (a slice of node_exporter's, for time), moved about: a TYPE line after
# its samples, a second HELP, a sample in another family's run, a line gone.
_SCRAPES = [
    lines
    for lines in (
        _scrape_lines("node_exporter/expected_metrics.txt", 400),
        _scrape_lines("process_exporter/expected_metrics_upstream_fixture.txt", 200),
    )
    if lines
]


@pytest.mark.skipif(not _SCRAPES, reason="../shared/fixtures not found")
@settings(max_examples=300, deadline=timedelta(seconds=5), database=None)
@given(st.data())
def test_shuffled_scrape_lines_agree(data: st.DataObject) -> None:
    lines = [line for line in data.draw(st.sampled_from(_SCRAPES)) if line]
    for _ in range(data.draw(st.integers(0, 5))):
        where = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["move", "copy", "drop"]))
        line = lines[where] if action == "copy" else lines.pop(where)
        if action != "drop":
            lines.insert(data.draw(st.integers(0, len(lines))), line)
    taken = _assert_same("\n".join(lines) + "\n")
    event("fast path" if taken else "full path")
