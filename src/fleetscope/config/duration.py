"""Durations as people write them on command lines and in environment variables: "10s",
"5m", "24h", "1d", Go-style sums such as "1h30m" or "500ms", or plain seconds ("2.5").

`Seconds` is the settings type for such a duration; the value is always float seconds.
Go's time.ParseDuration has no "d"; it is accepted here because "run for 1d" is how a
collection window is usually asked for.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from fleetscope.config.settings import Before

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d)")
_WHOLE = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h|d))+")
_PLAIN = re.compile(rf"[+-]?{_NUMBER}")


def parse_seconds(text: str) -> float:
    """Seconds in `text`; ValueError naming the text and the accepted forms otherwise."""
    stripped = text.strip().lower()
    if _PLAIN.fullmatch(stripped):
        return float(stripped)
    if _WHOLE.fullmatch(stripped):
        return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(stripped))
    raise ValueError(
        f"{text!r} is not a duration: use e.g. 10s, 5m, 24h, 1d, 1h30m, or plain seconds"
    )


def _from_text(value: Any) -> Any:
    value = parse_seconds(value) if isinstance(value, str) else value
    # TOML has inf and nan literals; neither is a duration anything could wait for.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a duration: it must be finite")
    return value


Seconds = Annotated[float, Before(_from_text)]
