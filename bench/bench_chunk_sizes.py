"""Bytes per snapshot of the chunk encoding (store/chunks.py) against chunk length, and the CPU
of encoding and decoding, on bench_store_bytes.py's simulated host (234 series of a real one,
194 present), with no row overhead and no cap: what longer chunks would gain.

    .venv/bin/python bench/bench_chunk_sizes.py [--snapshots 1440] [--lengths 1,3,6,12,30,60,120]

A frame (format 0, store/frames.py) is printed beside them. Times are medians over the chunks.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from bench_store_bytes import INTERVAL_MS, simulate_host
from fleetscope.store.chunks import decode_columns, decode_rows, encode_chunk, series_kinds
from fleetscope.store.frames import decode_frame, encode_frame


def timed_us(call: object) -> float:
    assert callable(call)
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=1440)
    parser.add_argument("--lengths", default="1,3,6,12,30,60,120")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    _, values = simulate_host("host", args.snapshots, np.random.default_rng(args.seed))
    present = int(np.sum(~np.isnan(values[0])))
    times = [i * INTERVAL_MS for i in range(args.snapshots)]
    rows = [[None if math.isnan(v) else v for v in row] for row in values.tolist()]
    blobs = [encode_frame(row) for row in rows]
    size = sum(map(len, blobs)) / len(blobs)
    enc = statistics.median(timed_us(lambda r=r: encode_frame(r)) for r in rows)
    dec = statistics.median(timed_us(lambda b=b: decode_frame(b)) for b in blobs)
    print(f"{len(values[0])} series, {present} present, {args.snapshots} snapshots")
    absent = np.isnan(values).all(axis=0)
    constant = ~absent & (values == values[0]).all(axis=0)
    exact = series_kinds(values) < 4  # whole numbers or decimals of up to 3 places over the run
    print(
        f"  over the run: {int(absent.sum())} absent, {int(constant.sum())} constant,"
        f" {int((exact & ~constant).sum())} moving exact decimals,"
        f" {int((~exact & ~absent & ~constant).sum())} moving full-precision floats"
    )
    print(
        f"  frame (format 0): {size:6.1f} B a snapshot, {size / present:.2f} B a present value;"
        f" encode {enc:.0f} us, decode {dec:.0f} us a snapshot"
    )
    for n in map(int, args.lengths.split(",")):
        starts = range(0, args.snapshots - n + 1, n)
        chunks = [encode_chunk(times[s : s + n], values[s : s + n]) for s in starts]
        size = sum(map(len, chunks)) / (len(chunks) * n)
        enc = statistics.median(
            timed_us(lambda s=s, n=n: encode_chunk(times[s : s + n], values[s : s + n]))
            for s in starts
        )
        dec = statistics.median(
            timed_us(lambda c=c, s=s: decode_rows(times[s], c))
            for c, s in zip(chunks, starts, strict=True)
        )
        one = statistics.median(
            timed_us(lambda c=c, s=s: decode_columns(times[s], c, [0]))
            for c, s in zip(chunks, starts, strict=True)
        )
        print(
            f"  chunk of {n:3d}: {size:6.1f} B a snapshot, {size / present:.2f} B a present value;"
            f" per chunk: encode {enc:.0f} us, decode {dec:.0f} us, one series {one:.0f} us"
        )


if __name__ == "__main__":
    main()
