"""Prometheus text 0.0.4, parsed by prometheus_client.parser with the checks that make it as strict
as prometheus/common's TextParser (the module docstring of exposition/parse.py says why)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import cast

from prometheus_client.parser import text_fd_to_metric_families as _text_families

from fleetscope.exposition.common import (
    LIBRARY_ERRORS,
    ExpositionError,
    ExpositionSample,
    LineCountingReader,
    check_line_length,
    check_sample_count,
    library_error,
)

# prometheus/common expfmt/text_parse.go is the reference for everything below; the corpus
# cases named in each comment are the ones prometheus_client accepted without the rule.

_LEGACY_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_BLANKS = re.compile(r"[ \t]+")
_METADATA = re.compile(r'#[ \t]*(HELP|TYPE)[ \t]+("(?:[^"\\]|\\.)*"|[^ \t]+)(?:[ \t]+(.*))?')
_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)
_UNESCAPE = re.compile(r'\\([\\"n])')
_GAUGE_HISTOGRAM_LINE = re.compile(r"(.*[ \t])gauge_?histogram([ \t]*)$")
_TIMESTAMP = re.compile(r"[+-]?[0-9]+")
_TEXT_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
_GAUGE_HISTOGRAM = ("gauge_histogram", "gaugehistogram")
_GAUGE_HISTOGRAM_TYPE = "gaugehistogram"


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == '"' and token[-1] == '"':
        return _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), token[1:-1])
    return token


def _check_escapes(line_no: int, line: str) -> None:
    # readTokenAsLabelValue / readTokenAsMetricName / readTokenUntilNewline(true): only \\,
    # \" and \n are escapes; anything else is "invalid escape sequence". prometheus_client
    # keeps other backslashes verbatim. (invalid_01 `\t` in a value, invalid_38 `\t` in a
    # quoted name, invalid_36 `\x`.) Outside quotes a backslash is invalid anyway.
    for match in _ESCAPE.finditer(line):
        if match.group(1) not in ("\\", '"', "n"):
            raise ExpositionError(f"invalid escape sequence '\\{match.group(1)}'", line_no, line)


@dataclass(slots=True)
class _TextLint:
    """One pass over 0.0.4 lines: the reference's rules prometheus_client lacks.

    It also records the TYPE declarations in order, which parse_text needs.
    """

    max_samples: int
    declared: list[tuple[str, str]] = field(default_factory=list)
    gauge_histogram_lines: list[int] = field(default_factory=list)
    helped: set[str] = field(default_factory=set)
    typed: set[str] = field(default_factory=set)
    sampled: set[str] = field(default_factory=set)
    samples: int = 0

    def run(self, lines: list[str], max_line_length: int) -> None:
        # startOfLine is the only state where io.EOF is not an error, so anything but
        # blanks after the last newline is "unexpected end of input stream" (invalid_00,
        # and the fuzz seed from_test_parse_error_0 `bla 3.14`). It also catches a
        # truncated body.
        if lines[-1].strip(" \t"):
            raise ExpositionError(
                "unexpected end of input: the last line does not end with a newline",
                len(lines),
                lines[-1],
            )
        for line_no, line in enumerate(lines, 1):
            check_line_length(line_no, line, max_line_length)
            stripped = line.lstrip(" \t")
            if not stripped:
                continue
            if stripped[0] != "#":
                self.sample(line_no, line, stripped)
                continue
            meta = _METADATA.fullmatch(stripped)
            if meta is not None:  # else a plain comment
                self.metadata(line_no, line, meta)

    def metadata(self, line_no: int, line: str, meta: re.Match[str]) -> None:
        _check_escapes(line_no, line)
        keyword, token, rest = meta.group(1), meta.group(2), (meta.group(3) or "")
        # readTokenAsMetricName + "invalid metric name in comment" (invalid_16 `met-ric`,
        # invalid_39 an unterminated quoted name).
        if token[0] != '"' and not _LEGACY_NAME.fullmatch(token):
            raise ExpositionError("invalid metric name in comment", line_no, line)
        name, rest = _unquote(token), rest.rstrip(" \t")
        if not rest:
            if keyword == "TYPE":
                # The reference ignores a TYPE line without a type; prometheus_client
                # raises a bare ValueError, so say what is wrong instead.
                raise ExpositionError("TYPE line without a type", line_no, line)
            # A HELP line without text sets no help (startComment), so a later one is not
            # a second one (valid_03 has `# HELP my_summary` twice).
            return
        if keyword == "HELP":
            # readingHelp: "second HELP line for metric name" (invalid_12).
            if name in self.helped:
                raise ExpositionError(f"second HELP line for {name!r}", line_no, line)
            self.helped.add(name)
            return
        # readingType: the family's type must still be unset: "second TYPE line for metric
        # name, or TYPE reported after samples" (invalid_13, invalid_14).
        if name in self.typed or name in self.sampled:
            raise ExpositionError(
                f"second TYPE line for {name!r}, or TYPE after its samples", line_no, line
            )
        self.typed.add(name)
        typ = rest
        if typ in _GAUGE_HISTOGRAM:
            # The reference accepts both spellings as GAUGE_HISTOGRAM, with the classic
            # histogram's sample layout (valid_15, valid_16, valid_17). prometheus_client
            # rejects "gauge_histogram" and, for "gaugehistogram", expects OpenMetrics'
            # _gcount/_gsum and turns every sample into its own untyped family. It is
            # handed over as "histogram" and the type is restored afterwards.
            self.gauge_histogram_lines.append(line_no - 1)
            typ = _GAUGE_HISTOGRAM_TYPE
        elif typ not in _TEXT_TYPES:
            # readingType: "unknown metric type". prometheus_client would take the
            # OpenMetrics-only types (info, stateset, unknown) here.
            raise ExpositionError(f"unknown metric type {typ!r}", line_no, line)
        self.declared.append((name, typ))

    def sample(self, line_no: int, line: str, stripped: str) -> None:
        self.samples += 1
        check_sample_count(self.samples, line_no, line, self.max_samples)
        _check_escapes(line_no, line)
        if stripped[0] == '"':
            return  # a quoted name outside braces: left to the library
        rest = stripped
        if stripped[0] != "{":
            name_match = _LEGACY_NAME.match(stripped)
            end = 0 if name_match is None else name_match.end()
            # readTokenAsMetricName stops at the first byte that is not a name byte, which
            # must then be a blank, a tab or '{'. prometheus_client checks the name only
            # when there are no labels (nullbyte_07 `a\x00{b="ddd"} 1`).
            if name_match is None or (end < len(stripped) and stripped[end] not in " \t{"):
                raise ExpositionError("invalid metric name", line_no, line)
            self.sampled.add(name_match.group())
            rest = stripped[end:].lstrip(" \t")
        tail = rest[rest.rfind("}") + 1 :] if rest.startswith("{") else rest
        tokens = [t for t in _BLANKS.split(tail) if t]
        # startTimestamp: the timestamp is an integer (ms), and nothing may follow it.
        # prometheus_client takes the last token as timestamp and parses it as a float
        # (invalid_09 `3.14 2.72`, invalid_10 `3.14 2 3`).
        if len(tokens) > 2:
            raise ExpositionError("spurious string after timestamp", line_no, line)
        if len(tokens) == 2 and not _TIMESTAMP.fullmatch(tokens[1]):
            raise ExpositionError(
                f"expected integer as timestamp, got {tokens[1]!r}", line_no, line
            )


def _go_float(text: str) -> bool:
    # parseFloat in text_parse.go: strconv.ParseFloat, minus 'p', 'P' and '_'. Python's
    # float() also takes '_' between digits, surrounding whitespace and non-ASCII digits.
    if not text.isascii() or text != text.strip() or "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f"{k}={v!r}" for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


_HISTOGRAMS = frozenset({"histogram", _GAUGE_HISTOGRAM_TYPE})


def _resolve_family(name: str, types: dict[str, str]) -> tuple[str, str]:
    """(family, type) of a 0.0.4 sample name, as setOrCreateCurrentMF finds it.

    The reference looks a sample's family up by name across the whole input, so a summary
    may be interrupted by other lines (valid_03); prometheus_client groups only contiguous
    lines and turns the rest into untyped families of their own.
    """
    typ = types.get(name)
    if typ is not None:
        return name, typ
    for suffix in ("_count", "_sum", "_bucket"):
        if name.endswith(suffix) and len(name) > len(suffix):
            base = name[: -len(suffix)]
            typ = types.get(base)
            if typ in _HISTOGRAMS or (typ == "summary" and suffix != "_bucket"):
                return base, typ
    return name, "untyped"


def _check_text_sample(
    family: str, typ: str, name: str, labels: dict[str, str], value: float
) -> None:
    """The reference's checks on summary and histogram samples."""
    if typ == "summary" and name == family:
        # startLabelValue: "expected float as value for 'quantile' label" (invalid_07 `bla`,
        # invalid_33 `0x1p-3`).
        quantile = labels.get("quantile")
        if quantile is not None and not _go_float(quantile):
            raise ExpositionError(
                f"expected float as value for 'quantile' label, got {quantile!r} in "
                + _series(name, labels)
            )
    if typ not in _HISTOGRAMS:
        return
    if name == family + "_bucket":
        # startLabelValue: "expected float as value for 'le' label" (invalid_19 `bla`,
        # invalid_32 `0x1p-3`).
        bound = labels.get("le")
        if bound is not None and not _go_float(bound):
            raise ExpositionError(
                f"expected float as value for 'le' label, got {bound!r} in " + _series(name, labels)
            )
        # readingValue: "negative bucket population for histogram" (invalid_44, invalid_46).
        if value < 0:
            raise ExpositionError(f"negative bucket population {value} in " + _series(name, labels))
    # readingValue: "negative count for histogram" (invalid_43, invalid_45).
    if name == family + "_count" and value < 0:
        raise ExpositionError(f"negative count {value} in " + _series(name, labels))


def _strip_total(name: str) -> str:
    return name.removesuffix("_total")


def _parse_text_full(text: str, max_samples: int, max_line_length: int) -> list[ExpositionSample]:
    lines = text.split("\n")
    lint = _TextLint(max_samples)
    lint.run(lines, max_line_length)
    if lint.gauge_histogram_lines:
        for index in lint.gauge_histogram_lines:
            lines[index] = _GAUGE_HISTOGRAM_LINE.sub(r"\1histogram\2", lines[index])
        text = "\n".join(lines)
    types = dict(lint.declared)  # names are unique: a second TYPE line is an error
    # prometheus_client appends _total to the samples of a counter whose TYPE name lacks
    # it. Its counter families come out one per counter TYPE line, in order, which tells
    # which ones it renamed even when both `x` and `x_total` are declared counters.
    counters = iter([name for name, typ in lint.declared if typ == "counter"])
    reader = LineCountingReader(text)
    out: list[ExpositionSample] = []
    try:
        for metric in _text_families(reader):
            renamed = False
            if metric.type == "counter":
                declared = next(counters, "")
                if metric.name not in (declared, _strip_total(declared)):
                    raise ExpositionError(
                        f"internal: counter {metric.name!r} does not match TYPE {declared!r}"
                    )
                renamed = not declared.endswith("_total")
            for sample in metric.samples:
                name = _strip_total(sample.name) if renamed else sample.name
                family, typ = _resolve_family(name, types)
                value = float(sample.value)
                _check_text_sample(family, typ, name, sample.labels, value)
                out.append(
                    ExpositionSample(
                        family=_strip_total(family) if typ == "counter" else family,
                        name=name,
                        type=typ,
                        labels=tuple(sorted(sample.labels.items())),
                        value=value,
                        timestamp=None if sample.timestamp is None else float(sample.timestamp),
                    )
                )
    except LIBRARY_ERRORS as exc:
        if isinstance(exc, ExpositionError):
            raise
        raise library_error(reader, exc) from exc
    return out


# The fast path. prometheus_client's parser scans every label character by character in
# Python; most real inputs are made only of lines of the canonical shapes below, which
# compiled regexes take whole, about five times faster (`bench/bench_exposition.py`; the
# figures in docs/deployment.md, "The faster parser"). An input with
# any other line (escapes, extra blanks, quoted names, `__` labels, comments other than
# HELP/TYPE, gauge histograms...) or anything the full path would reject goes to
# _parse_text_full entire, so every error, and every odd case, still comes from the code
# above. tests/exposition/test_text_fast_path.py holds the two paths to the same results.
_FAST_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
# `__` names are reserved (prometheus_client rejects them, `__name__` renames the sample).
_FAST_LABEL = r'(?!__)[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
_FAST_VALUE = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN"
_FAST_SAMPLE = re.compile(
    rf"({_FAST_NAME})(?:\{{({_FAST_LABEL}(?:,{_FAST_LABEL})*)?\}})? "
    rf"({_FAST_VALUE})(?: ([-+]?[0-9]+))?"
)
_FAST_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')
_FAST_HELP = re.compile(rf"# HELP ({_FAST_NAME})(?: ([^\\\n]*))?")
_FAST_TYPE = re.compile(rf"# TYPE ({_FAST_NAME}) (counter|gauge|histogram|summary|untyped)")
_FAST_CHECKED = frozenset({"summary", "histogram"})

_RawSample = tuple[str, str | None, str, str | None]


class _NotPlain(Exception):
    """The input needs the full path."""


@dataclass(slots=True)
class _FastLines:
    """The fast path's line pass: what _TextLint checks, for the plain line shapes only."""

    max_samples: int
    declared: dict[str, str] = field(default_factory=dict)
    helped: set[str] = field(default_factory=set)
    sampled: set[str] = field(default_factory=set)
    raw: list[_RawSample] = field(default_factory=list)

    def run(self, text: str, max_line_length: int) -> None:
        lines = text.split("\n")
        if lines[-1]:
            raise _NotPlain
        check_length = len(text) > max_line_length
        raw, sampled = self.raw, self.sampled
        last_name = ""
        sample_match = _FAST_SAMPLE.fullmatch
        for line in lines:
            if check_length and len(line) > max_line_length:
                raise _NotPlain
            if not line:
                continue
            if line[0] == "#":
                self.metadata(line)
                continue
            match = sample_match(line)
            if match is None:
                raise _NotPlain
            sample = cast(_RawSample, match.groups())
            raw.append(sample)
            if sample[0] != last_name:  # consecutive lines mostly share the name
                last_name = sample[0]
                sampled.add(last_name)
        if len(raw) > self.max_samples:
            raise _NotPlain

    def metadata(self, line: str) -> None:
        if line.startswith("# TYPE "):
            match = _FAST_TYPE.fullmatch(line)
            # _TextLint: a second TYPE line, or a TYPE line after the family's samples.
            if match is None or match.group(1) in self.declared or match.group(1) in self.sampled:
                raise _NotPlain
            self.declared[match.group(1)] = match.group(2)
            return
        match = _FAST_HELP.fullmatch(line)
        if match is None:
            raise _NotPlain
        help_text = match.group(2)
        if help_text is not None and help_text.strip(" \t"):
            # _TextLint: a second HELP line with text.
            if match.group(1) in self.helped:
                raise _NotPlain
            self.helped.add(match.group(1))


def _fast_samples(raw: list[_RawSample], declared: dict[str, str]) -> list[ExpositionSample]:
    families: dict[str, tuple[str, str, str]] = {}
    out: list[ExpositionSample] = []
    append = out.append
    pairs_of = _FAST_PAIR.findall
    for name, labels_text, value_text, timestamp_text in raw:
        resolved = families.get(name)
        if resolved is None:
            family, typ = _resolve_family(name, declared)
            shown = _strip_total(family) if typ == "counter" else family
            resolved = families[name] = (family, shown, typ)
        family, shown, typ = resolved
        labels: tuple[tuple[str, str], ...] = ()
        if labels_text is not None:
            pairs = pairs_of(labels_text)
            if len(pairs) > 1:
                if len(dict(pairs)) != len(pairs):
                    raise _NotPlain  # a duplicate label name
                pairs.sort()
            labels = tuple(pairs)
        value = float(value_text)
        if (value == 0.0 or math.isinf(value)) and value_text.lstrip("+-").isdigit():
            # prometheus_client reads an integer with int() before float(): "-0" is 0.0,
            # and float() of one too large raises OverflowError (left to the full path).
            if value != 0.0:
                raise _NotPlain
            value = 0.0
        if typ in _FAST_CHECKED:
            _check_text_sample(family, typ, name, dict(labels), value)
        # As prometheus_client computes it: int / 1000, not float(int) / 1000.
        timestamp = None if timestamp_text is None else int(timestamp_text) / 1000
        append(ExpositionSample(shown, name, typ, labels, value, timestamp))
    return out


def _parse_text_fast(
    text: str, max_samples: int, max_line_length: int
) -> list[ExpositionSample] | None:
    """What _parse_text_full returns for ``text``, or None when the input is not plain."""
    lines = _FastLines(max_samples)
    try:
        lines.run(text, max_line_length)
        return _fast_samples(lines.raw, lines.declared)
    except (_NotPlain, ExpositionError, ValueError, OverflowError):
        return None


def parse_text(text: str, max_samples: int, max_line_length: int) -> list[ExpositionSample]:
    fast = _parse_text_fast(text, max_samples, max_line_length)
    if fast is not None:
        return fast
    return _parse_text_full(text, max_samples, max_line_length)
