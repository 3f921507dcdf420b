"""Chunk rows (store/chunks.py): every value's bits come back, rows written before chunks read
as before, and the writer stores each snapshot once however a resend groups it (on SQLite and
PostgreSQL, the `engine` fixture)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from fleetscope.query.metrics import MetricQueries
from fleetscope.store.chunk_writes import encode_capped
from fleetscope.store.chunks import (
    CHUNK_MAX_FRAMES,
    CHUNK_SPAN_MS,
    DAY_MS,
    chunk_times,
    decode_chunk,
    decode_columns,
    decode_overlapping,
    decode_rows,
    encode_chunk,
    frames_in_range,
    frames_of,
    split_chunks,
)
from fleetscope.store.frames import encode_frame
from fleetscope.store.rollups import Rollups
from fleetscope.store.stretch import decode_stretch
from fleetscope.store.writer import BatchRows, FrameRow, StoreWriter
from tests.snapshots import stored_snapshots

T0_MS = 1_795_852_800_000  # 2026-11-22 08:00 UTC
SERIES = ("cpu_seconds_total", "memory_used_bytes", "load1")


def bits(value: float) -> int:
    return int.from_bytes(struct.pack("<d", value), "little")


# Every kind of float64: NaN with any payload, ±inf, ±0.0, subnormals, huge and tiny values,
# and the decimals counters are made of.
ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.integers(0, 2**64 - 1).map(lambda b: struct.unpack("<d", b.to_bytes(8, "little"))[0]),
    st.integers(-(2**60), 2**60).map(float),
    st.integers(-(10**9), 10**9).map(lambda k: k / 100),
    st.integers(-(10**9), 10**9).map(lambda k: k / 1000),
    st.sampled_from([0.0, -0.0, 2.0**53, -(2.0**53), 2.0**53 + 2, 1e308, 5e-324]),
)


@st.composite
def chunk_inputs(draw: st.DrawFn) -> tuple[list[int], list[list[float | None]]]:
    width = draw(st.integers(0, 12))
    n = draw(st.integers(1, 20))
    first = draw(st.integers(0, 2**50))
    steps = draw(st.lists(st.integers(1, 2**31), min_size=n - 1, max_size=n - 1))
    times = [first]
    for step in steps:
        times.append(times[-1] + step)
    value = st.one_of(st.none(), ANY_FLOAT)
    # Columns that move like real series (a counter's steps) beside arbitrary ones.
    frames = draw(st.lists(st.lists(value, min_size=width, max_size=width), min_size=n, max_size=n))
    return times, frames


@settings(max_examples=400, deadline=None)
@given(chunk_inputs())
def test_a_chunk_gives_back_every_time_and_every_value_bit_for_bit(
    case: tuple[list[int], list[list[float | None]]],
) -> None:
    times, frames = case
    blob = encode_chunk(times, frames)
    assert chunk_times(times[0], blob)[0] == times
    decoded = decode_chunk(times[0], blob)
    assert [t for t, _ in decoded] == times
    for (_, values), frame in zip(decoded, frames, strict=True):
        assert len(values) == len(frame)
        for got, want in zip(values, frame, strict=True):
            if want is None:
                assert math.isnan(got)  # absent: read back as None by value_or_none
            else:
                assert bits(got) == bits(want)


@settings(max_examples=100, deadline=None)
@given(st.lists(ANY_FLOAT, min_size=1, max_size=40))
def test_series_that_step_like_counters_round_trip(start: list[float]) -> None:
    rng = np.random.default_rng(len(start))
    n = 12
    steps = rng.integers(0, 10**6, (n, len(start))).astype(np.float64) / 100
    matrix = np.array(start)[None, :] + np.cumsum(steps, axis=0)
    times = [T0_MS + 10_000 * i for i in range(n)]
    blob = encode_chunk(times, matrix.tolist())
    _, values = decode_rows(T0_MS, blob)
    assert values.view(np.int64).tolist() == matrix.view(np.int64).tolist()


def test_a_frame_written_before_chunks_reads_as_a_row_of_one_snapshot() -> None:
    blob = encode_frame([1.5, None, -0.0])
    assert chunk_times(T0_MS, blob) == ([T0_MS], 0)
    [(ts, values)] = decode_chunk(T0_MS, blob)
    assert ts == T0_MS
    assert values[0] == 1.5 and math.isnan(values[1]) and bits(values[2]) == bits(-0.0)


def test_a_chunk_refuses_times_that_do_not_increase() -> None:
    with pytest.raises(ValueError, match="increase"):
        encode_chunk([T0_MS, T0_MS], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="one timestamp per snapshot"):
        encode_chunk([T0_MS], [])


def test_a_truncated_chunk_is_an_error_not_garbage() -> None:
    blob = encode_chunk([T0_MS, T0_MS + 10], [[1.0, 2.5], [2.0, 3.5]])
    with pytest.raises((ValueError, zstandard.ZstdError)):
        decode_rows(T0_MS, blob[:-3])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3 * DAY_MS), min_size=0, max_size=400, unique=True))
def test_chunks_stay_within_their_span_size_and_day(raw: list[int]) -> None:
    times = sorted(raw)
    parts = split_chunks(times)
    assert [i for start, stop in parts for i in range(start, stop)] == list(range(len(times)))
    for start, stop in parts:
        part = times[start:stop]
        assert len(part) <= CHUNK_MAX_FRAMES
        assert part[-1] - part[0] < CHUNK_SPAN_MS
        assert part[0] // DAY_MS == part[-1] // DAY_MS


def test_frames_in_range_keeps_the_range_and_one_of_each_snapshot() -> None:
    times = [T0_MS + 10_000 * i for i in range(6)]
    first = encode_chunk(times, [[float(i)] for i in range(6)])
    regrouped = encode_chunk(times[3:], [[float(i)] for i in range(3, 6)])
    rows = [(times[0], 1, first), (times[3], 1, regrouped)]
    found = frames_in_range(rows, times[1], times[4])
    assert [(ts, layout, values[0]) for ts, layout, values in found] == [
        (times[i], 1, float(i)) for i in range(1, 5)
    ]


def _batch(batch_id: str, times: list[int]) -> BatchRows:
    return BatchRows(
        tenant_id=1,
        machine_id="m-1",
        hostname="h-1",
        agent_version="1.0",
        batch_id=batch_id,
        frames=tuple(
            FrameRow(ts, SERIES, (ts / 1000 % 1000 / 100, 2e9 + ts % 7, None)) for ts in times
        ),
    )


def test_a_resend_grouped_differently_is_stored_once_where_it_meets_a_stored_key(
    engine: Engine,
) -> None:
    """A client that resends a grown buffer under a new id: its chunk starts where a stored
    one does, so the writer reads what is stored there and adds only the new snapshots."""
    writer = StoreWriter(engine)
    times = [T0_MS + 10_000 * i for i in range(9)]
    assert writer.write_batches([_batch("b-1", times[:6])]).frames_written == 6
    assert writer.write_batches([_batch("b-2", times[:9])]).frames_written == 3
    assert writer.write_batches([_batch("b-3", times[:9])]).frames_written == 0
    assert [ts for _, ts, _ in stored_snapshots(engine)] == times
    [host_id] = {host for host, _, _ in stored_snapshots(engine)}
    series = MetricQueries(engine).host_series(1, host_id, times[0], times[-1], {"load1"})
    assert [ts for ts, _ in series[0].points] == [ts / 1000 for ts in times]


def test_a_resend_that_starts_inside_a_stored_chunk_is_read_once(engine: Engine) -> None:
    writer = StoreWriter(engine)
    times = [T0_MS + 10_000 * i for i in range(9)]
    writer.write_batches([_batch("b-1", times[:6])])
    writer.write_batches([_batch("b-2", times[3:])])  # 3 snapshots again, 3 new
    keys = stored_snapshots(engine)
    assert sorted({ts for _, ts, _ in keys}) == times
    host_id = keys[0][0]
    series = MetricQueries(engine).host_series(1, host_id, times[0], times[-1])
    by_metric = {s.metric: s.points for s in series}
    assert [ts for ts, _ in by_metric["memory_used_bytes"]] == [ts / 1000 for ts in times]
    assert [v for _, v in by_metric["memory_used_bytes"]] == [2e9 + ts % 7 for ts in times]
    assert all(v is None for _, v in by_metric["load1"])


def test_one_call_makes_one_row_per_host_layout_and_chunk(engine: Engine) -> None:
    writer = StoreWriter(engine)
    times = [T0_MS + 1_000 * i for i in range(CHUNK_MAX_FRAMES + 5)]
    result = writer.write_batches([_batch("b-1", times)])
    assert result.frames_written == len(times)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT ts_ms FROM metric_frames ORDER BY ts_ms").all()
    assert [r[0] for r in rows] == [times[0], times[CHUNK_MAX_FRAMES]]


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT ts_ms FROM metric_frames ORDER BY 1")]


def test_the_rollup_step_compacts_settled_single_snapshot_rows(engine: Engine) -> None:
    """An agent's uploads of one snapshot each, then the 1-minute step: the rows of the
    recomputed minutes become chunks holding the same snapshots, bit for bit. A late snapshot
    in a compacted stretch stays a row of its own (its minute's chunk reaches past the minute:
    store/compaction.py) and is read once with the rest."""
    writer = StoreWriter(engine)
    times = [T0_MS + 10_000 * i + 1_234 for i in range(60)]  # ten minutes, agents not in step
    for n, ts in enumerate(times):
        writer.write_batches([_batch(f"b-{n}", [ts])])
    assert len(_rows(engine)) == 60
    [host_id] = {host for host, _, _ in stored_snapshots(engine)}
    queries = MetricQueries(engine)
    before = queries.host_series(1, host_id, times[0], times[-1])
    clock = [times[-1] / 1000 + 600]
    Rollups(engine, clock=lambda: clock[0]).run()
    chunks = [times[a] for a, _ in split_chunks(times)]
    assert _rows(engine) == chunks and len(chunks) == 2
    assert [ts for _, ts, _ in stored_snapshots(engine)] == times
    assert queries.host_series(1, host_id, times[0], times[-1]) == before
    late = T0_MS + 10_000 * 2 + 5_000
    assert writer.write_batches([_batch("late", [late])]).frames_written == 1
    Rollups(engine, clock=lambda: clock[0]).run()
    assert _rows(engine) == sorted([*chunks, late])
    assert [ts for _, ts, _ in stored_snapshots(engine)] == sorted([*times, late])
    with engine.connect() as conn:
        frames = conn.exec_driver_sql("SELECT sum(frames) FROM metric_rollups_1m").scalar_one()
    assert frames == 61


def test_a_stretch_already_in_chunks_is_not_rewritten(engine: Engine) -> None:
    writer = StoreWriter(engine)
    times = [T0_MS + 10_000 * i for i in range(6)]
    writer.write_batches([_batch("b-1", times)])  # one upload of a minute: one chunk already
    with engine.connect() as conn:
        blob = conn.exec_driver_sql("SELECT vals FROM metric_frames").scalar_one()
    Rollups(engine, clock=lambda: times[-1] / 1000 + 600).run()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT vals FROM metric_frames").all() == [(blob,)]


@st.composite
def stored_rows(draw: st.DrawFn) -> list[tuple[int, int, bytes]]:
    """A host's rows as the store holds them: frames and chunks of two layouts, in time
    order, some holding the same snapshot as another (a resend grouped differently), some
    starting before the range (the lookback) or reaching past it."""
    widths = {1: draw(st.integers(0, 4)), 2: 70}  # 70: frames_stats' numpy path
    rows: dict[tuple[int, int], bytes] = {}
    for _ in range(draw(st.integers(0, 12))):
        layout = draw(st.sampled_from([1, 2]))
        times = sorted(set(draw(st.lists(st.integers(0, 40), min_size=1, max_size=6))))
        value = st.one_of(st.none(), ANY_FLOAT)
        frames = [
            draw(st.lists(value, min_size=widths[layout], max_size=widths[layout])) for _ in times
        ]
        stamps = [T0_MS + 1_000 * t for t in times]
        single = len(times) == 1 and draw(st.booleans())
        blob = encode_frame(frames[0]) if single else encode_chunk(stamps, frames)
        rows.setdefault((stamps[0], layout), blob)
    return [(ts, layout, blob) for (ts, layout), blob in sorted(rows.items())]


@settings(max_examples=300, deadline=None)
@given(stored_rows(), st.integers(0, 40), st.integers(0, 40))
def test_decode_stretch_gives_what_decode_overlapping_and_frames_of_give(
    rows: list[tuple[int, int, bytes]], a: int, b: int
) -> None:
    start, end = T0_MS + 1_000 * min(a, b), T0_MS + 1_000 * max(a, b)
    decoded = decode_overlapping(rows, start, end)
    expected = [
        (ts, layout, np.frombuffer(v).tobytes()) for ts, layout, v in frames_of(decoded, start, end)
    ]
    stretches = decode_stretch(rows, start, end)
    got = [
        (ts, layout, row.tobytes())
        for layout, stretch in stretches.items()
        for ts, row in zip(stretch.in_range.times.tolist(), stretch.in_range.values, strict=True)
    ]
    assert sorted(got, key=lambda r: r[:2]) == expected
    for layout, stretch in stretches.items():
        assert stretch.in_range.values.flags.c_contiguous
        own = [
            (ts, times, values)
            for ts, lay, times, values in decoded
            if lay == layout and ts >= start
        ]
        assert stretch.starts == [ts for ts, _, _ in own]
        if any(int(times[-1]) > end for _, times, _ in own):
            assert stretch.own is None
            continue
        snapshots: dict[int, bytes] = {}  # what compaction kept before decode_stretch
        for _, times, values in own:
            for ts, row in zip(times.tolist(), values, strict=True):
                snapshots.setdefault(ts, row.tobytes())
        assert stretch.own is not None
        assert stretch.own.times.tolist() == sorted(snapshots)
        assert [row.tobytes() for row in stretch.own.values] == [
            snapshots[t] for t in sorted(snapshots)
        ]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 60), st.integers(200, 3000))
def test_capped_chunks_fit_their_cap_and_cover_every_snapshot(n: int, cap: int) -> None:
    rng = np.random.default_rng(n)
    times = [T0_MS + 10_000 * i for i in range(n)]
    frames = rng.normal(0, 1, (n, 40))  # full-precision gauges: the hardest to compress
    pieces = encode_capped(times, frames, cap)
    firsts = [first for first, _ in pieces]
    assert firsts[0] == 0 and firsts == sorted(set(firsts))
    got = [row for first, blob in pieces for row in decode_rows(times[first], blob)[1]]
    assert np.array_equal(np.array(got), frames)
    ends = [*firsts[1:], n]
    assert all(
        len(blob) <= cap or end - first == 1
        for (first, blob), end in zip(pieces, ends, strict=True)
    )


def _fewest_chunks(times: list[int], frames: np.ndarray, cap: int) -> int:
    """The fewest chunks under the cap, by growing each chunk while it fits."""
    count = start = 0
    while start < len(times):
        stop = start + 1
        while (
            stop < len(times)
            and len(encode_chunk(times[start : stop + 1], frames[start : stop + 1])) <= cap
        ):
            stop += 1
        count += 1
        start = stop
    return count


@pytest.mark.parametrize(("n", "cap"), [(30, 1_900), (48, 1_900), (48, 4_046), (120, 4_046)])
def test_capped_chunks_of_a_host_are_as_few_as_fit(n: int, cap: int) -> None:
    """A host's minutes (counters that grow, gauges that wander, as in bench_store_bytes.py)
    are cut into chunks under the cap, at most one more than a chunk-by-chunk search finds
    (equal pieces: where a few snapshots more fit in some chunks only, the search gains one).
    Halving until each piece fit, as encode_capped did before, left up to twice as many."""
    rng = np.random.default_rng(7)
    times = [T0_MS + 1_250 * i for i in range(n)]
    counters = np.cumsum(rng.integers(0, 5_000, (n, 150)), axis=0).astype(np.float64)
    seconds = np.round(np.cumsum(rng.uniform(0, 2, (n, 40)), axis=0), 2)
    gauges = 50 + np.cumsum(rng.normal(0, 1, (n, 30)), axis=0)
    frames = np.hstack([counters, seconds, gauges])
    pieces = encode_capped(times, frames, cap)
    assert all(len(blob) <= cap for _, blob in pieces)
    got = np.vstack([decode_rows(times[first], blob)[1] for first, blob in pieces])
    assert np.array_equal(got, frames)
    assert len(pieces) <= _fewest_chunks(times, frames, cap) + 1


@settings(max_examples=200, deadline=None)
@given(chunk_inputs(), st.data())
def test_reading_some_series_gives_what_reading_all_gives(
    case: tuple[list[int], list[list[float | None]]], data: st.DataObject
) -> None:
    times, frames = case
    width = len(frames[0])
    columns = data.draw(st.lists(st.integers(0, max(width - 1, 0)), max_size=6 if width else 0))
    for blob in (encode_chunk(times, frames), encode_frame(frames[0])):
        all_times, everything = decode_rows(times[0], blob)
        got_times, some = decode_columns(times[0], blob, columns)
        assert got_times == all_times.tolist()
        assert some.view(np.int64).tolist() == everything[:, columns].view(np.int64).tolist()
