"""Property tests: the payload decoder, the exposition parser and the /proc parsers, fed
generated and mutated input (the parsers seeded with real files: the expfmt corpus in
../shared/fixtures/expfmt, the procfs fixture tree), raise nothing but their documented parse
error, and never hang (a generous per-example deadline catches a runaway regex or loop)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetscope.agent.linux.errors import ParseError
from fleetscope.agent.linux.parsers import (
    diskstats,
    filenr,
    loadavg,
    meminfo,
    mounts,
    netdev,
    pressure,
    proc_pid,
    snmp,
    sockets,
    sockstat,
    stat,
    vmstat,
)
from fleetscope.exposition.parse import OPENMETRICS_MEDIA_TYPE, ExpositionError, parse_exposition
from fleetscope.model.codec import PayloadError, decode_payload
from tests.helpers import payload, payload_json

HANG_GUARD = settings(
    max_examples=150,
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SHARED = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "fixtures"


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few bytes replaced, inserted or deleted, or cut short."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        where = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        junk = draw(st.binary(min_size=1, max_size=4))
        if action == "replace" and where < len(data):
            data[where : where + len(junk)] = junk
        elif action == "insert":
            data[where:where] = junk
        elif action == "delete":
            del data[where : where + draw(st.integers(1, 16))]
        else:
            del data[where:]
    return bytes(data)


# --- payload decoder --------------------------------------------------------------------

VALID_PAYLOAD = payload_json(payload(2))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _decodes_or_payload_error(data: bytes | str) -> None:
    try:
        decode_payload(data)
    except PayloadError as exc:
        assert exc.message or exc.field


@HANG_GUARD
@given(st.binary(max_size=2048) | mutated([VALID_PAYLOAD]))
def test_payload_decoder_raises_only_payload_error_on_bytes(data: bytes) -> None:
    _decodes_or_payload_error(data)


@HANG_GUARD
@given(JSON_VALUES, st.sampled_from(["host", "snapshots", "agent", "batch_id", "extra"]))
def test_payload_decoder_raises_only_payload_error_on_json(value: Any, key: str) -> None:
    document = json.loads(VALID_PAYLOAD)
    document[key] = value
    _decodes_or_payload_error(json.dumps(document))
    _decodes_or_payload_error(json.dumps(value))


# --- exposition parser ------------------------------------------------------------------


def _expfmt_corpus() -> list[tuple[bytes, str | None]]:
    root = SHARED / "expfmt"
    if not (root / "manifest.json").exists():
        return []
    cases = json.loads((root / "manifest.json").read_text())["cases"]
    out = []
    for case in cases:
        path = root / case["file"]
        if path.suffix == ".gz" or not path.is_file():
            continue
        media = OPENMETRICS_MEDIA_TYPE if case["format"].startswith("openmetrics") else None
        out.append((path.read_bytes()[:65536], media))
    return out


CORPUS = _expfmt_corpus()


@pytest.mark.skipif(not CORPUS, reason="../shared/fixtures/expfmt not found")
@HANG_GUARD
@given(st.data())
def test_exposition_parser_raises_only_exposition_error(data: st.DataObject) -> None:
    text, media = data.draw(st.sampled_from(CORPUS))
    mutant = data.draw(mutated([text]))
    for content_type in (media, "text/plain; version=0.0.4", OPENMETRICS_MEDIA_TYPE):
        try:
            parse_exposition(mutant, content_type)
        except ExpositionError as exc:
            assert exc.reason


def test_the_exposition_corpus_is_there() -> None:
    from tests.conftest import require  # noqa: PLC0415

    require(len(CORPUS) > 300, f"expfmt corpus missing or short under {SHARED}")


# --- /proc parsers ----------------------------------------------------------------------

PROC = SHARED / "procfs" / "tree" / "proc"
PAGE = 4096
TextParser = Callable[[str], object]
PARSERS: list[tuple[str, TextParser]] = [
    ("meminfo", meminfo.parse_meminfo),
    ("stat", stat.parse_stat),
    ("loadavg", loadavg.parse_loadavg),
    ("diskstats", diskstats.parse_diskstats),
    ("net/dev", netdev.parse_net_dev),
    ("net/sockstat", lambda t: sockstat.parse_sockstat(t, PAGE)),
    ("net/tcp", sockets.parse_socket_table),
    ("net/snmp", snmp.parse_snmp),
    ("net/netstat", snmp.parse_netstat),
    ("net/dev_snmp6/eth0", snmp.parse_snmp6),
    ("vmstat", vmstat.parse_vmstat),
    ("vmstat", vmstat.parse_vmstat_swap),
    ("sys/fs/file-nr", filenr.parse_file_nr),
    ("pressure/memory", pressure.parse_pressure),
    ("self/mounts", mounts.parse_mounts),
    ("26231/stat", lambda t: proc_pid.parse_pid_stat(t, PAGE)),
    ("26231/status", proc_pid.parse_pid_status),
    ("26231/io", proc_pid.parse_pid_io),
    ("26231/limits", proc_pid.parse_pid_limits),
]


def _seed(name: str) -> bytes:
    path = PROC / name
    return path.read_bytes() if path.is_file() else b""


@pytest.mark.parametrize(("name", "parse"), PARSERS, ids=[f"{n}:{p.__name__}" for n, p in PARSERS])
def test_proc_parsers_raise_only_parse_error(name: str, parse: TextParser) -> None:
    seeds = [_seed(name) or b"x 1\n"]

    @HANG_GUARD
    @given(mutated(seeds) | st.text(max_size=512).map(str.encode))
    def check(data: bytes) -> None:
        with contextlib.suppress(ParseError):
            parse(data.decode("utf-8", errors="surrogateescape"))

    check()
