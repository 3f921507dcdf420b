"""Settings shared by every process: one TOML file with a table per part ([server], [agent]),
FLEETSCOPE_* environment variables, and command-line options, in rising precedence.

A settings class may also name other tools' variables for some of its settings (ENV_ALIASES,
e.g. the agent's PCC_* from perfcollector deployments). They rank below FLEETSCOPE_* and
above the file.

Unknown keys are errors that name the key, in the file (forbid_unknown_fields) and in the
environment (check_environment): a typo must not silently fall back to a default. Unknown
variables with an alias prefix (PCC_*) are not errors, since the other tool that owns the
prefix has variables of its own; foreign_variables() names them so the CLI can log them.

Settings are msgspec Structs, layered here by hand rather than with pydantic-settings: the
agent must fit in 40 MB resident, and importing pydantic-settings alone took 34.8 MB maxrss
against 8.5 MB for bare Python (msgspec: one small C extension). Each layer is a plain dict;
the layers are merged (tables key by key, as pydantic-settings did) and converted once.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit

import msgspec

ENV_PREFIX = "FLEETSCOPE_"
KNOWN_TABLES = ("server", "agent")


class ConfigError(ValueError):
    """Bad configuration; the message says which file, key or variable."""


@dataclass(frozen=True, slots=True)
class Before:
    """Annotated metadata: turns a value as written ("10s", "WARN") into what the field's type
    takes, before msgspec checks it (pydantic's BeforeValidator). msgspec ignores it; only
    settings_from() applies it. A ValueError names the setting in the ConfigError."""

    parse: Callable[[Any], Any]


class Secret:
    """A password or key: repr() and str() never show it, so neither do logs of the settings
    or their error messages; get_secret_value() is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Expected `str` for a secret")
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class HttpUrl(str):
    """An http:// or https:// URL with a host, checked when made; kept as written."""

    __slots__ = ()

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str):
            raise TypeError("Expected `str` for a URL")
        # The text is not repeated in the message: it may carry a user and password.
        problem = "must be an http:// or https:// URL with a host, e.g. http://host:8080"
        try:
            parts = urlsplit(value)
            _ = parts.port  # raises for a port that is not a number in 0-65535
        except ValueError as exc:
            raise ValueError(f"{problem} ({exc})") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(problem)
        return super().__new__(cls, value)


def _pattern(value: Any) -> re.Pattern[str]:
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        raise TypeError("Expected `str` for a regular expression")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from exc


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise TypeError("Expected `str` for a path")
    return Path(value)


# The non-msgspec types settings may use, and how each is made from a value as written.
_CUSTOM_TYPES: dict[Any, Callable[[Any], Any]] = {
    Path: _path,
    re.Pattern: _pattern,
    Secret: lambda value: value if isinstance(value, Secret) else Secret(value),
    HttpUrl: HttpUrl,
}


def _dec_hook(kind: Any, value: Any) -> Any:
    make = _CUSTOM_TYPES.get(get_origin(kind) or kind)
    if make is None:
        raise NotImplementedError(f"no conversion to {kind}")
    return make(value)


class SettingsStruct(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Base of every settings table: unknown keys are errors, values are read-only.

    Building one directly does not check types or constraints (msgspec checks on conversion);
    settings_from() and FleetscopeSettings.load() do. __post_init__ checks run either way.

    Subclasses repeat frozen=True: msgspec inherits it, but mypy's dataclass_transform reading
    would otherwise take the subclass for a mutable dataclass under a frozen one."""


S = TypeVar("S", bound=SettingsStruct)


@cache
def _hints(cls: type[SettingsStruct]) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(cls)}


def _is_union(kind: Any) -> bool:
    return get_origin(kind) in (Union, types.UnionType)


class _BadValue(Exception):
    def __init__(self, location: str, message: str) -> None:
        super().__init__(message)
        self.location, self.message = location, message


def _prepare(kind: Any, value: Any, path: str) -> Any:
    """Apply the Before parsers along `kind`, through Optional, lists and nested tables."""
    if get_origin(kind) is Annotated:
        inner, *extras = get_args(kind)
        for extra in extras:
            if isinstance(extra, Before) and value is not None:
                try:
                    value = extra.parse(value)
                except ValueError as exc:
                    raise _BadValue(path, str(exc)) from None
        return _prepare(inner, value, path)
    if _is_union(kind):
        options = [a for a in get_args(kind) if a is not type(None)]
        return _prepare(options[0], value, path) if len(options) == 1 else value
    if get_origin(kind) in (list, tuple) and isinstance(value, (list, tuple)):
        item = get_args(kind)[0]
        return [_prepare(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(kind, type) and issubclass(kind, SettingsStruct) and isinstance(value, dict):
        hints = _hints(kind)
        return {
            k: _prepare(hints[k], v, f"{path}.{k}" if path else k) if k in hints else v
            for k, v in value.items()
        }
    return value


_AT = re.compile(r" - at `\$(.*)`$")
_UNKNOWN = re.compile(r"unknown field `(.*)`")


def settings_from(
    cls: type[S],
    data: Mapping[str, Any],
    where: Callable[[str], str | None] | None = None,
    name: str = "",
) -> S:
    """`data` (values as written in the file, variables or options) checked into `cls`.

    The ConfigError names the setting as a dotted path (under `name`, e.g. agent.spool.max_bytes)
    and, through `where` (given the path), the file, variable or option it came from. The
    value itself is not repeated, so a bad secret is not printed either."""
    try:
        prepared = _prepare(cls, dict(data), "")
        return msgspec.convert(prepared, cls, strict=False, dec_hook=_dec_hook)
    except _BadValue as exc:
        location, message = exc.location, exc.message
    except msgspec.ValidationError as exc:
        message = str(exc)
        found = _AT.search(message)
        location = found.group(1).lstrip(".") if found else ""
        message = _AT.sub("", message)
        unknown = _UNKNOWN.search(message)
        if unknown:  # the key's own source: at the top level, only the file has unknown keys
            location = f"{location}.{unknown.group(1)}" if location else unknown.group(1)
    setting = ".".join(part for part in (name, location) if part)
    source = where(location) if where is not None else None
    what = f"setting {setting}" if location else f"settings{f' [{name}]' if name else ''}"
    raise ConfigError(f"invalid {what}{f' (from {source})' if source else ''}: {message}")


def setting_description(kind: Any) -> str | None:
    """The Meta(description=...) given with a field's type, looking through Optional."""
    if get_origin(kind) is Annotated:
        inner, *extras = get_args(kind)
        for extra in extras:
            if isinstance(extra, msgspec.Meta) and extra.description:
                return extra.description
        return setting_description(inner)
    if _is_union(kind):
        for option in get_args(kind):
            found = setting_description(option)
            if found:
                return found
    return None


def _is_structured(kind: Any) -> bool:
    """Whether an environment variable for this type holds JSON (lists, tables), as with
    pydantic-settings: FLEETSCOPE_COLLECTORS='["cpu"]', FLEETSCOPE_SPOOL='{"max_bytes": 1e9}'."""
    if get_origin(kind) is Annotated:
        return _is_structured(get_args(kind)[0])
    if _is_union(kind):
        return any(_is_structured(a) for a in get_args(kind))
    if get_origin(kind) in (list, tuple, dict) or kind in (list, tuple, dict):
        return True
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _merge(lower: Any, higher: Any) -> Any:
    """Tables merge key by key (a variable for one [agent.spool] key keeps the file's other
    keys); anything else is replaced."""
    if isinstance(lower, dict) and isinstance(higher, dict):
        merged = dict(lower)
        for key, value in higher.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    return higher


class FleetscopeSettings(SettingsStruct, frozen=True):
    TOML_TABLE: ClassVar[str]
    # Other tools' environment variables for some settings: {variable: field name}.
    ENV_ALIASES: ClassVar[Mapping[str, str]] = {}
    ENV_ALIAS_PREFIX: ClassVar[str | None] = None

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Self:
        """Options given as None are left to the environment, the file and the defaults."""
        # (name of the source, its values), lowest precedence first.
        layers: list[tuple[Callable[[str], str], dict[str, Any]]] = []
        if config_file is not None:
            table = read_config_file(config_file).get(cls.TOML_TABLE)
            if table is not None:
                layers.append((lambda _: f"config file {config_file}", table))
        aliases: dict[str, str] = {}  # field name -> the first alias variable set for it
        for variable, name in cls.ENV_ALIASES.items():
            if variable in os.environ and name not in aliases:
                aliases[name] = variable
        layers.append((lambda key: aliases[key], {n: os.environ[v] for n, v in aliases.items()}))
        layers.append((lambda key: ENV_PREFIX + key.upper(), cls._environment()))
        given = {k: v for k, v in overrides.items() if v is not None}
        layers.append((lambda _: "the command line", given))

        merged: dict[str, Any] = {}
        sources: dict[str, list[str]] = {}
        for describe, values in layers:
            for key, value in values.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    sources[key].insert(0, describe(key))  # tables merge: name every source
                else:
                    sources[key] = [describe(key)]
                merged[key] = _merge(merged.get(key), value)

        def where(location: str) -> str | None:
            key = re.split(r"[.\[]", location, maxsplit=1)[0]
            return " over ".join(sources[key]) if key in sources else None

        return settings_from(cls, merged, where, cls.TOML_TABLE)

    @classmethod
    def _environment(cls) -> dict[str, Any]:
        """FLEETSCOPE_<FIELD> values; names match in any case, as pydantic-settings did."""
        by_name = {k.upper(): v for k, v in os.environ.items()}
        found: dict[str, Any] = {}
        for name, kind in _hints(cls).items():
            variable = ENV_PREFIX + name.upper()
            if variable not in by_name:
                continue
            text = by_name[variable]
            if _is_structured(kind):
                try:
                    found[name] = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ConfigError(
                        f"environment variable {variable} must be JSON "
                        f"(a list or table) for {cls.TOML_TABLE}.{name}: {exc}"
                    ) from None
            else:
                found[name] = text
        return found


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
    known = {ENV_PREFIX + name.upper() for cls in classes for name in cls.__struct_fields__}
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
