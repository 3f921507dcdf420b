"""Binary operators: arithmetic, comparison (with or without `bool`) and the set operators,
between scalars and instant vectors, with on/ignoring and group_left/group_right matching.
Follows Prometheus' VectorBinop, VectorscalarBinop and resultMetric."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fleetscope.query.promql.values import (
    NAME,
    Bools,
    ExecutionError,
    Floats,
    Labels,
    Scalar,
    Series,
    Vector,
    drop_name,
    keep_only,
    label,
    without,
)

ARITHMETIC: dict[str, Callable[[Floats, Floats], Floats]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,
    "^": np.power,
    "atan2": np.arctan2,
}
COMPARISON: dict[str, Callable[[Floats, Floats], Bools]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}
SET_OPERATORS = frozenset({"and", "or", "unless"})


@dataclass(frozen=True, slots=True)
class Matching:
    card: str  # one-to-one, many-to-one, one-to-many, many-to-many
    on: bool
    labels: frozenset[str]
    include: tuple[str, ...]  # group_left/group_right labels taken from the "one" side
    return_bool: bool

    def signature(self, labels: Labels) -> Labels:
        if self.on:
            return keep_only(labels, self.labels)
        return without(labels, self.labels | {NAME})


def elem(op: str, left: Floats, right: Floats) -> tuple[Floats, Bools]:
    """The value and whether to keep it (comparisons keep the left value where true)."""
    with np.errstate(all="ignore"):
        if op in ARITHMETIC:
            return ARITHMETIC[op](left, right), np.ones(len(left), dtype=bool)
        return left, COMPARISON[op](left, right)


def scalar_scalar(op: str, left: Scalar, right: Scalar) -> Scalar:
    value, keep = elem(op, left.v, right.v)
    return Scalar(value if op in ARITHMETIC else keep.astype(np.float64))


def vector_scalar(op: str, vector: Vector, scalar: Scalar, swap: bool, return_bool: bool) -> Vector:
    out = []
    for s in vector:
        left, right = (scalar.v, s.v) if swap else (s.v, scalar.v)
        value, keep = elem(op, left, right)
        if op in COMPARISON and swap:
            value = right  # the vector's value, even when it is on the right
        if return_bool:
            value, keep = keep.astype(np.float64), np.ones(len(keep), dtype=bool)
        labels = drop_name(s.labels) if op in ARITHMETIC or return_bool else s.labels
        out.append(Series(labels, value, s.ok & keep))
    return out


def _result_labels(many: Labels, one: Labels, op: str, m: Matching) -> Labels:
    found = dict(many)
    if op in ARITHMETIC or m.return_bool:
        found.pop(NAME, None)
    if m.card == "one-to-one":
        if m.on:
            found = {k: v for k, v in found.items() if k in m.labels}
        else:
            for name in m.labels:
                found.pop(name, None)
    for name in m.include:
        value = label(one, name)
        if value:
            found[name] = value
        else:
            found.pop(name, None)
    return tuple(sorted(found.items()))


def vector_vector(op: str, lhs: Vector, rhs: Vector, m: Matching, steps: int) -> Vector:
    if op in SET_OPERATORS:
        return _set_operation(op, lhs, rhs, m, steps)
    many, one = (rhs, lhs) if m.card == "one-to-many" else (lhs, rhs)
    ones: dict[Labels, list[Series]] = {}
    for s in one:
        ones.setdefault(m.signature(s.labels), []).append(s)
    for sig, members in ones.items():
        if len(members) > 1 and (np.stack([s.ok for s in members]).sum(axis=0) > 1).any():
            side = "left" if m.card == "one-to-many" else "right"
            raise ExecutionError(
                f"found duplicate series for the match group {dict(sig)} on the {side} "
                "hand-side of the operation; many-to-many matching not allowed: matching "
                "labels must be unique on one side"
            )
    out: dict[Labels, Series] = {}
    for s in many:
        for o in ones.get(m.signature(s.labels), ()):
            left, right = (o.v, s.v) if m.card == "one-to-many" else (s.v, o.v)
            value, keep = elem(op, left, right)
            ok = s.ok & o.ok
            if m.return_bool:
                value = keep.astype(np.float64)
            else:
                ok &= keep
            if not ok.any():
                continue
            labels = _result_labels(s.labels, o.labels, op, m)
            _add(out, labels, value, ok, m)
    return list(out.values())


def _add(out: dict[Labels, Series], labels: Labels, value: Floats, ok: Bools, m: Matching) -> None:
    found = out.get(labels)
    if found is None:
        out[labels] = Series(labels, np.where(ok, value, np.nan), ok.copy())
        return
    if (found.ok & ok).any():
        if m.card == "one-to-one":
            raise ExecutionError(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)"
            )
        raise ExecutionError(
            "multiple matches for labels: grouping labels must ensure unique matches"
        )
    found.v = np.where(ok, value, found.v)
    found.ok |= ok


def _set_operation(op: str, lhs: Vector, rhs: Vector, m: Matching, steps: int) -> Vector:
    present: dict[Labels, Bools] = {}
    for s in rhs:
        sig = m.signature(s.labels)
        present[sig] = present.get(sig, np.zeros(steps, dtype=bool)) | s.ok
    none = np.zeros(steps, dtype=bool)
    if op == "and":
        return [Series(s.labels, s.v, s.ok & present.get(m.signature(s.labels), none)) for s in lhs]
    if op == "unless":
        return [
            Series(s.labels, s.v, s.ok & ~present.get(m.signature(s.labels), none)) for s in lhs
        ]
    left: dict[Labels, Bools] = {}
    for s in lhs:
        sig = m.signature(s.labels)
        left[sig] = left.get(sig, np.zeros(steps, dtype=bool)) | s.ok
    return list(lhs) + [
        Series(s.labels, s.v, s.ok & ~left.get(m.signature(s.labels), none)) for s in rhs
    ]
