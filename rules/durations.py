"""Durations as operators write them ("90s", "15m", "1h30m", "2d", or plain seconds), held as nanoseconds."""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import BeforeValidator, Field

NS_PER_S: Final = 1_000_000_000
_UNITS: Final = {"ms": 1_000_000, "s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S, "d": 86400 * NS_PER_S}
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE: Final = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")


def parse_duration(value: object) -> int:
    """Nanoseconds from "15m"-style text or a number of seconds; raise ValueError on anything else."""
    if isinstance(value, bool):
        raise ValueError("a duration is text like '15m' or a number of seconds, not a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration {value!r} is negative")
        return round(value * NS_PER_S)
    if not isinstance(value, str):
        raise ValueError(f"a duration is text like '15m' or a number of seconds, got {type(value).__name__}")
    text = value.strip().replace(" ", "")
    if not _WHOLE.match(text):
        raise ValueError(f"duration {value!r} must look like 90s, 15m, 1h30m, 2d or 500ms")
    return sum(round(float(num) * _UNITS[unit]) for num, unit in _PART.findall(text))


def format_duration(ns: int) -> str:
    """The shortest exact "1h30m"-style text for a duration in nanoseconds."""
    if ns == 0:
        return "0s"
    parts: list[str] = []
    rest = ns
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest:
        parts.append(f"{rest / NS_PER_S:g}s" if not parts else f"{rest // 1_000_000}ms")
    return "".join(parts)


Duration = Annotated[int, BeforeValidator(parse_duration), Field(ge=0)]
"""A pydantic field type: written as "15m" or seconds, stored as nanoseconds."""
