"""`fleetscope config --sample`: a settings file with every key of the [server] and [agent]
tables (and the collectors' own tables), each at its default with its description."""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer

from fleetscope.agent.settings import AgentSettings
from fleetscope.config.settings import SettingsStruct, setting_description

SAMPLE_SUBTABLES = {
    "processes": """\
# process_names = [
#   { name = "{{.Matches.app}}", cmdline = ['java .* -jar (?P<app>\\S+)'] },
#   { name = "postgres", comm = ["postgres"] },
# ]
# track_children = true""",
}

SAMPLE_CONFIG_HEADER = """\
# fleetscope settings. Every key may also be set as an environment variable
# FLEETSCOPE_<KEY> (e.g. FLEETSCOPE_API_KEY), and command-line options win over both.
# Unknown keys are errors.
"""


def config_cmd(
    sample: Annotated[bool, typer.Option("--sample", help="print a sample settings file")] = False,
) -> None:
    """Configuration helpers."""
    if not sample:
        typer.echo("use: fleetscope config --sample > fleetscope.toml", err=True)
        raise typer.Exit(2)
    import msgspec

    from fleetscope.cli.settings import ServerSettings

    typer.echo(SAMPLE_CONFIG_HEADER)
    for cls in (ServerSettings, AgentSettings):
        typer.echo(f"[{cls.TOML_TABLE}]")
        tables: dict[str, SettingsStruct] = {}
        for field in msgspec.structs.fields(cls):
            factory = field.default_factory
            default = field.default if factory is msgspec.NODEFAULT else factory()
            if isinstance(default, SettingsStruct):  # a collector's settings: its own table
                tables[field.name] = default
                continue
            _sample_key(field.name, setting_description(field.type), default)
        typer.echo("")
        for table, model in tables.items():
            typer.echo(f"[{cls.TOML_TABLE}.{table}]")
            example = SAMPLE_SUBTABLES.get(table, "")
            if example:
                typer.echo(example)
            for field in msgspec.structs.fields(model):
                if f"# {field.name} =" not in example:  # the example shows it already
                    value = getattr(model, field.name)
                    _sample_key(field.name, setting_description(field.type), value)
            typer.echo("")


def _sample_key(name: str, description: str | None, default: object) -> None:
    if description:
        typer.echo(f"# {description}")
    if default is None:
        typer.echo(f"# {name} =")
    else:
        typer.echo(f"{name} = {_toml_value(default)}")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, re.Pattern):
        return json.dumps(value.pattern)
    return json.dumps(str(value))
