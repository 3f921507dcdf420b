"""Settings for process grouping, in the shape of process-exporter's config file.

A process-exporter YAML (`process_names: [{name, comm, exe, cmdline}]`) validates as-is, so a
fleet can reuse its existing config; `user` and `track_children` are ours. Unknown keys are
rejected, templates and regexes are checked when the settings load rather than at the first
scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from fleetscope.config.settings import SettingsStruct

# Fields of process-exporter's templateParams (config/config.go) that we can fill. Cgroups,
# Cwd and StartTime need data we do not read, or Go's time formatting, so they are refused
# at load time instead of rendering something different from process-exporter.
TEMPLATE_FIELDS = frozenset({"Comm", "ExeBase", "ExeFull", "Username", "PID"})

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIELD = re.compile(r"\s*\.(\w+)(?:\.(\w+))?\s*")


@dataclass(frozen=True, slots=True)
class TemplatePart:
    """A literal (field is None) or a `{{.Field}}` / `{{.Matches.KEY}}` reference."""

    literal: str
    field: str | None = None
    key: str | None = None


def parse_name_template(template: str) -> tuple[TemplatePart, ...]:
    """Parse the subset of Go text/template that process-exporter configs use.

    Hand-written because only `{{.Field}}` and `{{.Matches.KEY}}` occur in its docs and
    configs; a Go template engine for Python would bring pipelines and functions whose output
    could not be checked against process-exporter anyway.
    """
    parts: list[TemplatePart] = []
    position = 0
    for action in _ACTION.finditer(template):
        if action.start() > position:
            parts.append(TemplatePart(template[position : action.start()]))
        ref = _FIELD.fullmatch(action.group(1))
        if ref is None:
            raise ValueError(f"unsupported template action {action.group(0)!r} in {template!r}")
        field, key = ref.group(1), ref.group(2)
        if field == "Matches":
            if key is None:
                raise ValueError("{{.Matches}} needs a key, as in {{.Matches.NAME}}")
        elif field not in TEMPLATE_FIELDS or key is not None:
            known = ", ".join(sorted(TEMPLATE_FIELDS | {"Matches.NAME"}))
            raise ValueError(f"unknown template field {action.group(0)!r}; known: {known}")
        parts.append(TemplatePart("", field, key))
        position = action.end()
    if "{{" in template[position:] or "}}" in template[position:]:
        raise ValueError(f"unbalanced braces in template {template!r}")
    if position < len(template):
        parts.append(TemplatePart(template[position:]))
    return tuple(parts)


class ProcessGroupRule(SettingsStruct, frozen=True):
    """One entry of `process_names`. Every selector given must match (AND); within `comm`,
    `exe` and `user` any listed value matches (OR); every `cmdline` regex must match."""

    # process-exporter's default name when a rule gives none.
    name: str = "{{.ExeBase}}"
    comm: list[str] | None = None
    # Matched against argv[0]: a bare name matches its basename, a value with a slash must
    # equal argv[0] exactly (process-exporter's exeMatcher).
    exe: list[str] | None = None
    # Regexes searched (unanchored) in argv joined by spaces; `(?P<NAME>...)` captures feed
    # {{.Matches.NAME}}. Python's re accepts RE2's syntax for these.
    cmdline: list[str] | None = None
    # Effective user name, or the numeric uid as a string when it has no name. Ours.
    user: list[str] | None = None

    def __post_init__(self) -> None:
        parse_name_template(self.name)
        for pattern in self.cmdline or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad cmdline regex {pattern!r}: {exc}") from exc
        if self.comm is None and self.exe is None and self.cmdline is None and self.user is None:
            raise ValueError("a rule needs at least one of comm, exe, cmdline, user")


class ProcessGroupsSettings(SettingsStruct, frozen=True):
    """Rules tried in order, the first match names the process. No rules: every process,
    kernel threads included, is grouped by its comm."""

    process_names: list[ProcessGroupRule] = msgspec.field(default_factory=list)
    # process-exporter's -children (default true): a process no rule matches joins the group
    # of its nearest matched ancestor.
    track_children: bool = True
