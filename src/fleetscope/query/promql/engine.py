"""Evaluation of a parsed PromQL expression over every step of a query at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import promql_parser as pp

from fleetscope.query.promql import aggregate, binary, functions
from fleetscope.query.promql.store import Matcher, MatchOp, PromStore
from fleetscope.query.promql.values import (
    NAME,
    ExecutionError,
    Floats,
    Ints,
    Labels,
    PromQLError,
    Raw,
    Scalar,
    Series,
    Text,
    Unsupported,
    Value,
    Vector,
    drop_name,
)

LOOKBACK_MS = 5 * 60 * 1000  # Prometheus' default lookback delta
MAX_POINTS = 11_000  # Prometheus refuses range queries with more steps per series
_OPS: dict[str, MatchOp] = {
    "MatchOp.Equal": "=",
    "MatchOp.NotEqual": "!=",
    "MatchOp.Re": "=~",
    "MatchOp.NotRe": "!~",
}  # the parser's enums are not hashable: keyed by their names


@dataclass(frozen=True, slots=True)
class Result:
    kind: Literal["vector", "matrix", "scalar", "string"]
    times: Ints  # the steps (ms); one for an instant query
    series: list[Series]  # vector/matrix: only series with a value at some step
    scalar: Floats | None = None
    text: str | None = None
    raw: list[Raw] | None = None  # an instant query of a range selector: its samples


def _duration_ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return delta // timedelta(milliseconds=1)


def _at_ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def parse(query: str) -> Any:
    try:
        return pp.parse(query)
    except (ValueError, TypeError) as exc:
        raise PromQLError(f'invalid parameter "query": {exc}') from exc


def matchers_of(selector: Any) -> list[Matcher]:
    found = [Matcher(m.name, _op(m.op), m.value) for m in selector.matchers.matchers]
    if selector.matchers.or_matchers:
        raise Unsupported("'or' inside a selector's braces")
    if selector.name is not None:
        found.append(Matcher(NAME, "=", selector.name))
    return found


def _op(op: Any) -> MatchOp:
    found = _OPS.get(str(op))
    if found is None:
        raise Unsupported(f"matcher {op}")
    return found


class Evaluation:
    """One query: the steps, the tenant, and the store to read."""

    def __init__(
        self, store: PromStore, tenant_id: int, times: Ints, lookback_ms: int, end_ms: int
    ) -> None:
        self.store = store
        self.end_ms = end_ms  # what `@ end()` means: the query's end, not its last step
        self.tenant_id = tenant_id
        self.times = times
        self.steps = len(times)
        self.lookback_ms = lookback_ms

    def eval(self, node: Any) -> Value:  # noqa: PLR0911 (one branch per node type)
        if isinstance(node, pp.NumberLiteral):
            return Scalar(np.full(self.steps, float(node.val)))
        if isinstance(node, pp.StringLiteral):
            return Text(node.val)
        if isinstance(node, pp.ParenExpr):
            return self.eval(node.expr)
        if isinstance(node, pp.UnaryExpr):
            return self._negate(self.eval(node.expr))
        if isinstance(node, pp.VectorSelector):
            return self.vector_selector(node)
        if isinstance(node, pp.Call):
            return self.call(node)
        if isinstance(node, pp.AggregateExpr):
            return self.aggregation(node)
        if isinstance(node, pp.BinaryExpr):
            return self.binary(node)
        if isinstance(node, pp.MatrixSelector):
            raise PromQLError(
                "a range vector is only allowed as a function argument here (use it in an "
                "instant query for its raw samples)"
            )
        if isinstance(node, pp.SubqueryExpr):
            raise Unsupported("subquery")
        raise Unsupported(type(node).__name__)

    def _negate(self, value: Value) -> Value:
        if isinstance(value, Scalar):
            return Scalar(-value.v)
        if isinstance(value, Text):
            raise PromQLError("unary minus on a string")
        return merge_same_labels([Series(drop_name(s.labels), -s.v, s.ok) for s in value])

    def _eval_times(self, selector: Any) -> Ints:
        at = selector.at
        if at is None:
            base = self.times
        elif at.type == pp.AtModifierType.Start:
            base = np.full(self.steps, self.times[0])
        elif at.type == pp.AtModifierType.End:
            base = np.full(self.steps, self.end_ms)
        else:
            base = np.full(self.steps, _at_ms(at.at))
        return base - _duration_ms(selector.offset)

    def vector_selector(self, node: Any) -> Vector:
        refs = self._eval_times(node)
        raws = self.store.select(
            self.tenant_id, matchers_of(node), int(refs.min()) - self.lookback_ms, int(refs.max())
        )
        out = []
        for raw in raws:
            idx = np.searchsorted(raw.t, refs, side="right") - 1
            safe = np.maximum(idx, 0)
            v = raw.v[safe]
            ok = (idx >= 0) & (raw.t[safe] >= refs - self.lookback_ms) & ~np.isnan(v)
            if ok.any():
                out.append(Series(raw.labels, v, ok))
        return out

    def matrix(self, node: Any) -> tuple[list[Raw], Ints, int]:
        if isinstance(node, pp.SubqueryExpr):
            raise Unsupported("subquery")
        if not isinstance(node, pp.MatrixSelector):
            raise PromQLError(f"expected a range vector, got {node}")
        selector = node.vector_selector
        ends = self._eval_times(selector)
        range_ms = _duration_ms(node.range)
        raws = self.store.select(
            self.tenant_id, matchers_of(selector), int(ends.min()) - range_ms, int(ends.max())
        )
        return raws, ends, range_ms

    def scalar_arg(self, node: Any, what: str) -> Floats:
        value = self.eval(node)
        if not isinstance(value, Scalar):
            raise PromQLError(f"{what} must be a scalar")
        return value.v

    def vector_arg(self, node: Any, what: str) -> Vector:
        value = self.eval(node)
        if not isinstance(value, list):
            raise PromQLError(f"{what} must be an instant vector")
        return value

    def call(self, node: Any) -> Value:  # noqa: PLR0911 (one branch per kind of function)
        name = node.func.name
        args = node.args
        if name in functions.RANGE_FUNCTIONS:
            q = (
                self.scalar_arg(args[0], "quantile_over_time's quantile")
                if name == "quantile_over_time"
                else None
            )
            raws, ends, range_ms = self.matrix(args[-1])
            out = []
            for raw in raws:
                v, ok = functions.apply(name, raw, ends, range_ms, q)
                if ok.any():
                    labels = raw.labels if name == "last_over_time" else drop_name(raw.labels)
                    out.append(Series(labels, v, ok))
            return merge_same_labels(out)
        if name == "histogram_quantile":
            q = self.scalar_arg(args[0], "histogram_quantile's quantile")
            return functions.histogram_quantile(
                q, self.vector_arg(args[1], "histogram_quantile's buckets")
            )
        if name in functions.MATH or name in {"clamp_min", "clamp_max", "clamp", "round"}:
            extra = [self.scalar_arg(a, f"{name}'s bound") for a in args[1:]]
            result = functions.math_function(name, self.vector_arg(args[0], name), extra)
            return merge_same_labels(result)
        if name == "time":
            return Scalar(self.times.astype(np.float64) / 1000)
        if name == "vector":
            v = self.scalar_arg(args[0], "vector's argument")
            return [Series((), v, np.ones(self.steps, dtype=bool))]
        if name == "scalar":
            vector = self.vector_arg(args[0], "scalar's argument")
            if len(vector) == 0:
                return Scalar(np.full(self.steps, np.nan))
            count = np.stack([s.ok for s in vector]).sum(axis=0)
            value = np.nansum(np.stack([np.where(s.ok, s.v, np.nan) for s in vector]), axis=0)
            return Scalar(np.where(count == 1, value, np.nan))
        raise Unsupported(f"function {name}()")

    def aggregation(self, node: Any) -> Vector:
        op = str(node.op)
        if op not in aggregate.SUPPORTED:
            raise Unsupported(f"aggregation {op}")
        param = None
        if op in {"topk", "bottomk", "quantile"}:
            param = self.scalar_arg(node.param, f"{op}'s parameter")
        modifier = node.modifier
        by = modifier is None or modifier.type == pp.AggModifierType.By
        names = frozenset(modifier.labels) if modifier is not None else frozenset()
        arg = self.vector_arg(node.expr, f"{op}'s argument")
        return aggregate.aggregate(op, arg, by=by, names=names, param=param, steps=self.steps)

    def binary(self, node: Any) -> Value:
        op = str(node.op)
        if (
            op not in binary.ARITHMETIC
            and op not in binary.COMPARISON
            and op not in binary.SET_OPERATORS
        ):
            raise Unsupported(f"binary operator {op}")
        lhs, rhs = self.eval(node.lhs), self.eval(node.rhs)
        modifier = node.modifier
        return_bool = modifier is not None and modifier.return_bool
        if isinstance(lhs, Text) or isinstance(rhs, Text):
            raise PromQLError(f"binary operator {op} between strings")
        if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
            return binary.scalar_scalar(op, lhs, rhs)
        if isinstance(rhs, Scalar):
            assert isinstance(lhs, list)
            return merge_same_labels(binary.vector_scalar(op, lhs, rhs, False, return_bool))
        if isinstance(lhs, Scalar):
            return merge_same_labels(binary.vector_scalar(op, rhs, lhs, True, return_bool))
        return binary.vector_vector(op, lhs, rhs, _matching(op, modifier), self.steps)


def _matching(op: str, modifier: Any) -> binary.Matching:
    if modifier is None:
        card = "many-to-many" if op in binary.SET_OPERATORS else "one-to-one"
        return binary.Matching(card, False, frozenset(), (), False)
    if modifier.fill_values is not None and (
        modifier.fill_values.lhs is not None or modifier.fill_values.rhs is not None
    ):
        raise Unsupported("fill modifiers")
    card = {
        "VectorMatchCardinality.OneToOne": "one-to-one",
        "VectorMatchCardinality.ManyToOne": "many-to-one",
        "VectorMatchCardinality.OneToMany": "one-to-many",
        "VectorMatchCardinality.ManyToMany": "many-to-many",
    }[str(modifier.card)]
    matching = modifier.matching
    on = matching is not None and matching.type == pp.LabelModifierType.Include
    labels = frozenset(matching.labels) if matching is not None else frozenset()
    return binary.Matching(
        card, on, labels, tuple(modifier.group_labels or ()), modifier.return_bool
    )


def merge_same_labels(vector: Vector) -> Vector:
    """Series that came to share their labels (a function dropped the names) become one, as
    long as they never both have a value at one step (Prometheus' rule)."""
    found: dict[Labels, Series] = {}
    for s in vector:
        other = found.get(s.labels)
        if other is None:
            found[s.labels] = Series(s.labels, s.v.copy(), s.ok.copy())
            continue
        if (other.ok & s.ok).any():
            raise ExecutionError("vector cannot contain metrics with the same labelset")
        other.v = np.where(s.ok, s.v, other.v)
        other.ok |= s.ok
    return list(found.values())


class PromEngine:
    """The query service behind /prometheus/api/v1/query and query_range."""

    def __init__(self, store: PromStore, lookback_ms: int = LOOKBACK_MS) -> None:
        self.store = store
        self.lookback_ms = lookback_ms

    def instant(self, tenant_id: int, query: str, time_ms: int) -> Result:
        node = parse(query)
        times = np.array([time_ms], dtype=np.int64)
        evaluation = Evaluation(self.store, tenant_id, times, self.lookback_ms, time_ms)
        if isinstance(node, pp.MatrixSelector):
            raws, _, _ = evaluation.matrix(node)
            return Result("matrix", times, [], raw=[_trim(r, time_ms, node) for r in raws])
        return _result(evaluation.eval(node), times, "vector")

    def range(self, tenant_id: int, query: str, start_ms: int, end_ms: int, step_ms: int) -> Result:
        if step_ms <= 0:
            raise PromQLError("zero or negative query resolution step widths are not accepted")
        if end_ms < start_ms:
            raise PromQLError("end timestamp must not be before start time")
        if (end_ms - start_ms) // step_ms + 1 > MAX_POINTS:
            raise PromQLError(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
                "the query resolution (?step=XX)"
            )
        node = parse(query)
        times = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        evaluation = Evaluation(self.store, tenant_id, times, self.lookback_ms, end_ms)
        value = evaluation.eval(node)
        return _result(value, times, "matrix")


def _trim(raw: Raw, time_ms: int, node: Any) -> Raw:
    keep = ~np.isnan(raw.v)
    return Raw(raw.labels, raw.t[keep], raw.v[keep])


def _result(value: Value, times: Ints, kind: Literal["vector", "matrix"]) -> Result:
    if isinstance(value, Scalar):
        if kind == "matrix":  # a range query draws a scalar as one series without labels
            return Result(kind, times, [Series((), value.v, np.ones(len(times), dtype=bool))])
        return Result("scalar", times, [], scalar=value.v)
    if isinstance(value, Text):
        if kind == "matrix":
            raise PromQLError(
                'invalid expression type "string" for range query, must be Scalar or instant Vector'
            )
        return Result("string", times, [], text=value.value)
    return Result(kind, times, sorted((s for s in value if s.ok.any()), key=lambda s: s.labels))
