"""Aggregation operators over instant vectors, at every step (Prometheus' aggregation())."""

from __future__ import annotations

import numpy as np

from fleetscope.query.promql.functions import quantile_rows
from fleetscope.query.promql.values import (
    NAME,
    Floats,
    Labels,
    Series,
    Unsupported,
    Vector,
    keep_only,
    without,
)

SUPPORTED = frozenset(
    {
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "topk",
        "bottomk",
        "quantile",
        "group",
        "stddev",
        "stdvar",
    }
)


def group_key(labels: Labels, by: bool, names: frozenset[str]) -> Labels:
    if by:
        return keep_only(labels, names)
    return without(labels, names | {NAME})


def aggregate(
    op: str, arg: Vector, *, by: bool, names: frozenset[str], param: Floats | None, steps: int
) -> Vector:
    if op not in SUPPORTED:
        raise Unsupported(f"aggregation {op}")
    groups: dict[Labels, list[Series]] = {}
    for s in arg:
        groups.setdefault(group_key(s.labels, by, names), []).append(s)
    out: Vector = []
    for key, members in groups.items():
        values = np.stack([s.v for s in members])
        ok = np.stack([s.ok for s in members])
        if op in {"topk", "bottomk"}:
            assert param is not None
            out.extend(_top(members, values, ok, param, op == "topk"))
            continue
        any_ok = np.asarray(ok.any(axis=0), dtype=np.bool_)
        count = ok.sum(axis=0).astype(np.float64)
        with np.errstate(all="ignore"):
            if op == "sum":
                v = np.where(ok, values, 0.0).sum(axis=0)
            elif op == "avg":
                v = np.where(ok, values, 0.0).sum(axis=0) / count
            elif op == "count":
                v = count
            elif op == "group":
                v = np.ones(steps)
            elif op == "min":
                v = np.fmin.reduce(np.where(ok, values, np.nan), axis=0)
            elif op == "max":
                v = np.fmax.reduce(np.where(ok, values, np.nan), axis=0)
            elif op in {"stddev", "stdvar"}:
                mean = np.where(ok, values, 0.0).sum(axis=0) / count
                var = (np.where(ok, values - mean, 0.0) ** 2).sum(axis=0) / count
                v = np.sqrt(var) if op == "stddev" else var
            else:  # quantile
                assert param is not None
                ordered = np.sort(np.where(ok, values, np.inf), axis=0).T
                v = quantile_rows(param, ordered, ok.sum(axis=0).astype(np.int64))
        out.append(Series(key, v, any_ok))
    return out


def _top(members: list[Series], values: Floats, ok: np.ndarray, k: Floats, largest: bool) -> Vector:
    """topk/bottomk keep the chosen series whole (labels and all), at the steps they rank."""
    fill = -np.inf if largest else np.inf
    keyed = np.where(ok, values, fill)
    keyed = np.where(np.isnan(keyed), fill, keyed)  # NaN ranks last, as in Prometheus
    order = np.argsort(-keyed if largest else keyed, axis=0, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(len(members))[:, None].repeat(ok.shape[1], 1), 0)
    want = np.clip(np.nan_to_num(k, nan=0.0), 0, len(members)).astype(np.int64)
    chosen = ok & (rank < want[None, :])
    return [Series(s.labels, s.v, chosen[i]) for i, s in enumerate(members)]
