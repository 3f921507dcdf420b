"""Settings shared by every process: one TOML file with a table per part ([server], [agent]),
FLEETSCOPE_* environment variables, and command-line options, in rising precedence.

A settings class may also name other tools' variables for some of its settings (ENV_ALIASES,
e.g. the agent's PCC_* from perfcollector deployments). They rank below FLEETSCOPE_* and
above the file.

Unknown keys are errors that name the key, in the file (extra="forbid") and in the
environment (check_environment): a typo must not silently fall back to a default. Unknown
variables with an alias prefix (PCC_*) are not errors, since the other tool that owns the
prefix has variables of its own; foreign_variables() names them so the CLI can log them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "FLEETSCOPE_"
_config_file: ContextVar[Path | None] = ContextVar("fleetscope_config_file", default=None)


class ConfigError(ValueError):
    """Bad configuration; the message says which file, key or variable."""


class AliasEnvSource(PydanticBaseSettingsSource):
    """Settings from variables another tool names differently: {variable: field name}."""

    def __init__(self, settings_cls: type[BaseSettings], aliases: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.aliases = aliases

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for variable, name in self.aliases.items():
            if name == field_name and variable in os.environ:
                return os.environ[variable], variable, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for variable, name in self.aliases.items():
            if variable in os.environ and name not in found:
                found[name] = os.environ[variable]
        return found


class FleetscopeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)
    TOML_TABLE: ClassVar[str]
    # Other tools' environment variables for some settings: {variable: field name}.
    ENV_ALIASES: ClassVar[Mapping[str, str]] = {}
    ENV_ALIAS_PREFIX: ClassVar[str | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.ENV_ALIASES:
            sources.append(AliasEnvSource(settings_cls, cls.ENV_ALIASES))
        path = _config_file.get()
        if path is not None and cls.TOML_TABLE in read_config_file(path):
            sources.append(
                TomlConfigSettingsSource(
                    settings_cls, toml_file=path, toml_table_header=(cls.TOML_TABLE,)
                )
            )
        return tuple(sources)

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Self:
        """Options given as None are left to the environment, the file and the defaults."""
        token = _config_file.set(config_file)
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        finally:
            _config_file.reset(token)


KNOWN_TABLES = ("server", "agent")


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for key, value in data.items():
        if key not in KNOWN_TABLES or not isinstance(value, dict):
            tables = ", ".join(f"[{t}]" for t in KNOWN_TABLES)
            raise ConfigError(
                f"config file {path}: unknown top-level key {key!r}; expected {tables}"
            )
    return data


def check_environment(
    classes: Iterable[type[FleetscopeSettings]], aliases: Iterable[str] = ()
) -> None:
    """Every FLEETSCOPE_* variable must name a setting of one of the classes."""
    known = {ENV_PREFIX + name.upper() for cls in classes for name in cls.model_fields}
    known.update(aliases)
    unknown = sorted(
        name for name in os.environ if name.startswith(ENV_PREFIX) and name not in known
    )
    if unknown:
        names, choices = ", ".join(unknown), ", ".join(sorted(known))
        raise ConfigError(f"unknown environment variable(s) {names}; known: {choices}")


def foreign_variables(classes: Iterable[type[FleetscopeSettings]]) -> list[str]:
    """Variables with one of the classes' alias prefixes that no alias names (ignored)."""
    classes = list(classes)
    prefixes = tuple({c.ENV_ALIAS_PREFIX for c in classes if c.ENV_ALIAS_PREFIX})
    known = {variable for cls in classes for variable in cls.ENV_ALIASES}
    if not prefixes:
        return []
    return sorted(n for n in os.environ if n.startswith(prefixes) and n not in known)
