"""Alerting's shared vocabulary: rule records, the signals a rule may watch, comparison
operators, states and channel kinds. Pure; used by alerting (evaluation), query (the REST
services) and web. docs/alerting.md describes each signal."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

State = Literal["inactive", "pending", "firing", "resolved"]
STATES: tuple[State, ...] = ("inactive", "pending", "firing", "resolved")
ACTIVE_STATES: tuple[State, ...] = ("pending", "firing")

Op = Literal[">", ">=", "<", "<=", "==", "!="]
OPS: tuple[Op, ...] = (">", ">=", "<", "<=", "==", "!=")

ChannelKind = Literal["webhook", "email", "apprise"]
CHANNEL_KINDS: tuple[ChannelKind, ...] = ("webhook", "email", "apprise")

# Signals computed from a host's latest snapshot (or its absence); any other signal name is
# read as a series name (model/series.py), its largest value over the label sets the rule's
# params "labels" select.
SIGNALS: dict[str, str] = {
    "cpu_percent": "CPU busy, percent of all cores (cpu_utilization_percent)",
    "memory_available_percent": "memory_available_bytes / memory_total_bytes x 100",
    "filesystem_used_percent": "the fullest writable filesystem, df's Use%",
    "filesystem_hours_to_full": "hours until the first writable filesystem is full at the "
    "growth seen over params.window_seconds (default 6 h); absent when none grows",
    "host_silent_seconds": "seconds since the host's last snapshot",
    "exporter_targets_down": "exporter targets whose last scrape failed "
    "(exporter_scrape_success == 0)",
    "process_groups_gone": "process groups seen on the host that its latest snapshot lacks "
    "(params.groups: a glob, default *)",
}


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def compare(value: float, op: Op, threshold: float) -> bool:
    """NaN never meets a condition, not even !=."""
    return not math.isnan(value) and _COMPARE[op](value, threshold)


# A reminder at most yearly: a longer interval means "never", and the column is a 64-bit
# integer (an unbounded one was a 500 from the database driver, found by the API fuzzer).
MAX_REPEAT_SECONDS = 366 * 86400


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What a rule says; the id and tenant come from its row."""

    name: str
    signal: str
    op: Op
    threshold: float
    for_seconds: int = 0
    host_pattern: str = "*"
    params: dict[str, str] = field(default_factory=dict)
    severity: str = "warning"
    repeat_seconds: int = 4 * 3600
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    tenant_id: int
    spec: RuleSpec
    default_key: str | None = None


# Ready-made rules for every tenant, editable (their default_key keeps them from being made
# twice). Thresholds after Beszel's and Netdata's stock alerts.
DEFAULT_RULES: dict[str, RuleSpec] = {
    "cpu_high": RuleSpec("CPU above 90 %", "cpu_percent", ">", 90.0, 300, severity="warning"),
    "filesystem_full": RuleSpec(
        "Filesystem above 90 %", "filesystem_used_percent", ">", 90.0, 300, severity="warning"
    ),
    "filesystem_forecast": RuleSpec(
        "Filesystem full within 24 h",
        "filesystem_hours_to_full",
        "<",
        24.0,
        600,
        params={"window_seconds": "21600"},
        severity="warning",
    ),
    "memory_low": RuleSpec(
        "Memory available below 5 %", "memory_available_percent", "<", 5.0, 300, severity="critical"
    ),
    "host_silent": RuleSpec(
        "Host stopped reporting", "host_silent_seconds", ">", 120.0, 0, severity="critical"
    ),
    "exporter_down": RuleSpec(
        "Exporter target down", "exporter_targets_down", ">", 0.0, 120, severity="warning"
    ),
    "process_group_gone": RuleSpec(
        "Process group gone", "process_groups_gone", ">", 0.0, 300, severity="warning"
    ),
}


class BadRule(ValueError):
    """The message names the field and what was wanted."""


def check_rule(spec: RuleSpec) -> RuleSpec:
    if not spec.name.strip():
        raise BadRule("name: must not be empty")
    if spec.op not in OPS:
        raise BadRule(f"op: {spec.op!r} is not one of {', '.join(OPS)}")
    if not spec.signal or len(spec.signal) > 256:
        raise BadRule("signal: a signal name (docs/alerting.md) or a series name")
    if not math.isfinite(spec.threshold):
        raise BadRule("threshold: must be a finite number")
    if spec.for_seconds < 0 or not 1 <= spec.repeat_seconds <= MAX_REPEAT_SECONDS:
        raise BadRule(
            f"for_seconds must be >= 0 and repeat_seconds between 1 and {MAX_REPEAT_SECONDS}"
        )
    window = spec.params.get("window_seconds")
    if window is not None and not (window.isdigit() and int(window) >= 60):
        raise BadRule(f"params.window_seconds: {window!r} is not a whole number >= 60")
    return spec


class WebhookConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str
    timeout_seconds: float = 10.0


class EmailConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    to: list[str]
    sender: str
    smtp_host: str
    smtp_port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 10.0


class AppriseConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    urls: list[str]


ChannelConfig = WebhookConfig | EmailConfig | AppriseConfig
_CONFIGS: dict[str, type[WebhookConfig] | type[EmailConfig] | type[AppriseConfig]] = {
    "webhook": WebhookConfig,
    "email": EmailConfig,
    "apprise": AppriseConfig,
}


def parse_channel_config(kind: str, config: bytes | str) -> ChannelConfig:
    """A channel's settings from JSON; BadRule names the field that is wrong."""
    model = _CONFIGS.get(kind)
    if model is None:
        raise BadRule(f"kind: {kind!r} is not one of {', '.join(CHANNEL_KINDS)}")
    try:
        parsed = msgspec.json.decode(config, type=model)
    except msgspec.ValidationError as exc:
        raise BadRule(f"config ({kind}): {exc}") from exc
    if isinstance(parsed, WebhookConfig) and not parsed.url.startswith(("http://", "https://")):
        raise BadRule(f"config.url: {parsed.url!r} is not an http(s) URL")
    if isinstance(parsed, EmailConfig) and not parsed.to:
        raise BadRule("config.to: at least one address")
    if isinstance(parsed, AppriseConfig) and not parsed.urls:
        raise BadRule("config.urls: at least one apprise URL")
    return parsed
