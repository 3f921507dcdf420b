"""The values an expression evaluates to, over every step of a query at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
# A series' labels, sorted by name; __name__ among them when the series has a name.
Labels = tuple[tuple[str, str], ...]

NAME = "__name__"


class PromQLError(Exception):
    """A query that cannot be answered. `kind` is the Prometheus API's errorType."""

    kind = "bad_data"


class Unsupported(PromQLError):
    """A valid PromQL construct outside fleetscope's subset."""

    def __init__(self, what: str) -> None:
        super().__init__(f"not supported by fleetscope's PromQL: {what}")


class ExecutionError(PromQLError):
    kind = "execution"


@dataclass(slots=True)
class Raw:
    """A stored series' samples in time order. A NaN value is a staleness marker (an absent
    value in a frame whose layout has the series): fleetscope stores no real NaN."""

    labels: Labels
    t: Ints  # epoch milliseconds
    v: Floats


@dataclass(slots=True)
class Series:
    """One series of an instant vector, at every step: `ok` says where it has a value."""

    labels: Labels
    v: Floats
    ok: Bools


@dataclass(slots=True)
class Scalar:
    v: Floats


@dataclass(slots=True)
class Text:
    value: str


Vector = list[Series]
Value = Vector | Scalar | Text


def drop_name(labels: Labels) -> Labels:
    return tuple(item for item in labels if item[0] != NAME)


def label(labels: Labels, name: str) -> str:
    for key, value in labels:
        if key == name:
            return value
    return ""


def keep_only(labels: Labels, names: frozenset[str]) -> Labels:
    return tuple(item for item in labels if item[0] in names)


def without(labels: Labels, names: frozenset[str]) -> Labels:
    return tuple(item for item in labels if item[0] not in names)
