"""Every command's --help shows its source text whole (issue 14, item 10): Rich used to take
`[server]`, `[agent]` and `[default: ...]` in help texts as markup and drop them."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from fleetscope.cli.main import app


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    # Typer carries its own copy of Click (typer._click): Click's classes are not its classes.
    found = [(path, command)]
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def _words(text: str) -> str:
    """The text without Rich's box drawing and line wrapping."""
    # Click wraps long lines after a hyphen too ("--data-" / "dir"): join those back.
    text = re.sub(r"(?<=\w-)\n\s*", "", text)
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "up", "server", "agent", "agent status", "export", "export csv"} <= names


@pytest.mark.parametrize(
    "path,command", COMMANDS, ids=[" ".join(path) or "fleetscope" for path, _ in COMMANDS]
)
def test_help_shows_the_source_text_whole(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    shown = _words(result.output)
    texts = [command.help or ""] + [
        p.help
        for p in command.params
        if getattr(p, "help", None) and not getattr(p, "hidden", False)
    ]
    for text in texts:
        # Typer shows a command's docstring up to the first form feed, paragraph by paragraph.
        for paragraph in text.split("\f")[0].split("\n\n"):
            assert _words(paragraph) in shown, f"{' '.join(path)}: {paragraph!r} not in help"
