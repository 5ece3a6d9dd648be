"""Durations ("500ms", "1h30m") and byte sizes ("512MiB") as operators write them in config files."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = ["ByteSize", "Duration", "format_duration", "parse_bytes", "parse_duration"]

_DURATION_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_RE: Final = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")
_DURATION_HINT: Final = 'write a number of seconds or a duration such as "500ms", "30s", "5m", "1h", "1d" or "1h30m"'

_BYTE_UNITS: Final = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_BYTES_RE: Final = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]*)$")
_BYTES_HINT: Final = (
    'write a whole number of bytes or a size such as "256KiB", "512MiB", "1GiB" (or kB/MB/GB, powers of 1000)'
)


def _is_number(value: object) -> bool:
    """Whether a value is an int or float but not a bool (YAML's true/false must not become 1/0)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_duration(value: object) -> float:
    """Turn a number of seconds or a duration string into float seconds; raise ValueError saying how to fix it."""
    if _is_number(value):
        seconds = float(value)  # type: ignore[arg-type]
    elif isinstance(value, str) and _DURATION_RE.match(value.strip().lower()):
        text = value.strip().lower()
        seconds = sum(float(num) * _DURATION_UNITS[unit] for num, unit in _DURATION_PART.findall(text))
    else:
        raise ValueError(f"{value!r} is not a duration; {_DURATION_HINT}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration of zero or more seconds; {_DURATION_HINT}")
    return seconds


def format_duration(seconds: float) -> str:
    """Render float seconds back in the shortest unit that is exact, for dumps ("1h", "20ms", "1.5s")."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if seconds < 1 and (seconds * 1000).is_integer():
        return f"{int(seconds * 1000)}ms"
    return format(Decimal(repr(seconds)), "f") + "s"


def parse_bytes(value: object) -> int:
    """Turn a byte count or a size string into an int of bytes; raise ValueError saying how to fix it."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _BYTES_RE.match(value.strip().lower())):
        number, unit = match.groups()
        if unit not in _BYTE_UNITS and unit:
            raise ValueError(f"{value!r} has an unknown unit {unit!r}; {_BYTES_HINT}")
        size = int(float(number) * _BYTE_UNITS.get(unit, 1))
    else:
        raise ValueError(f"{value!r} is not a size; {_BYTES_HINT}")
    if size < 0:
        raise ValueError(f"{value!r} is negative; {_BYTES_HINT}")
    return size


def _duration_schema() -> dict[str, Any]:
    """The JSON Schema editors see for a duration: seconds or a string with units."""
    return {
        "anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": _DURATION_RE.pattern},
        ],
        "description": "Seconds, or a duration such as 500ms, 30s, 5m, 1h, 1d.",
    }


def _bytes_schema() -> dict[str, Any]:
    """The JSON Schema editors see for a byte size: an integer or a string with units."""
    return {
        "anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "string", "pattern": r"^\d+(\.\d+)?\s*([kKmMgGtT]i?[bB]|[bB])?$"},
        ],
        "description": "Bytes, or a size such as 256KiB, 512MiB, 1GiB.",
    }


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(_duration_schema()),
]
"""Float seconds in code; a number or "30s"-style string in the file."""

ByteSize = Annotated[
    int,
    BeforeValidator(parse_bytes),
    WithJsonSchema(_bytes_schema()),
]
"""An int of bytes in code; a number or "512MiB"-style string in the file."""
