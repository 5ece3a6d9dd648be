"""Device timestamps: seconds, milliseconds, microseconds, nanoseconds or ISO 8601, to ns since the epoch."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

from gateway.model import Rejected, RejectReason

TimeUnit = Literal["auto", "s", "ms", "us", "ns", "iso8601"]

_SCALE = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def to_ns(value: object, unit: TimeUnit = "auto") -> int:
    """Convert a device timestamp; `auto` tells s/ms/us/ns apart by magnitude and parses strings as ISO 8601."""
    if type(value) is int and value >= 0 and unit != "iso8601":  # the common case, first
        return value * _SCALE[_guess_unit(value) if unit == "auto" else unit]
    if isinstance(value, bool):
        raise Rejected(RejectReason.WRONG_TYPE, f"timestamp {value!r} is a boolean")
    if isinstance(value, str):
        if unit not in {"auto", "iso8601"}:
            raise Rejected(RejectReason.WRONG_TYPE, f"timestamp {value!r} is text but the unit is {unit}")
        return _iso_ns(value)
    if not isinstance(value, int | float):
        raise Rejected(RejectReason.WRONG_TYPE, f"timestamp {value!r} is neither a number nor ISO 8601 text")
    if not math.isfinite(value) or value < 0:
        raise Rejected(RejectReason.MALFORMED, f"timestamp {value!r} is not a time")
    if unit == "iso8601":
        raise Rejected(RejectReason.WRONG_TYPE, f"timestamp {value!r} is a number but the unit is iso8601")
    if unit == "auto":
        unit = _guess_unit(value)
    if isinstance(value, int):
        return value * _SCALE[unit]
    return round(value * _SCALE[unit])


def _guess_unit(value: float) -> TimeUnit:
    # Epoch seconds now are ~1.7e9; ms ~1.7e12; us ~1.7e15; ns ~1.7e18. Split between the magnitudes.
    if value < 1e11:
        return "s"
    if value < 1e14:
        return "ms"
    if value < 1e17:
        return "us"
    return "ns"


def _iso_ns(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected(RejectReason.MALFORMED, f"timestamp {text!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # documented: a time without an offset is UTC
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
