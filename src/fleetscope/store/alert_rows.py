"""alert_rules rows to and from model.alerts records, for the evaluator and the REST services."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row

from fleetscope.model.alerts import Op, Rule, RuleSpec


def rule_of(r: Row[Any]) -> Rule:
    """A Rule from an alert_rules row."""
    return Rule(
        r.id,
        r.tenant_id,
        RuleSpec(
            r.name,
            r.signal,
            _op(r.op),
            r.threshold,
            r.for_seconds,
            r.host_pattern,
            json.loads(r.params),
            r.severity,
            r.repeat_seconds,
            bool(r.enabled),
        ),
        r.default_key,
    )


def _op(value: str) -> Op:
    ops: dict[str, Op] = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "==", "!=": "!="}
    return ops[value]


def rule_values(spec: RuleSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "signal": spec.signal,
        "op": spec.op,
        "threshold": spec.threshold,
        "for_seconds": spec.for_seconds,
        "host_pattern": spec.host_pattern,
        "params": json.dumps(spec.params, sort_keys=True),
        "severity": spec.severity,
        "repeat_seconds": spec.repeat_seconds,
        "enabled": spec.enabled,
    }
