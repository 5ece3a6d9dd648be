"""What every payload codec shares: its interface and the checks every decoded value goes through."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

from gateway.model import FieldValue, Reading, Rejected, RejectReason


class Codec(Protocol):
    """Turns one message payload into readings; raises `Rejected` for anything it cannot take."""

    name: str

    def decode(self, payload: bytes, topic: Mapping[str, str], now_ns: int) -> list[Reading]:
        """Decode a payload; `topic` holds the levels the topic template captured (device, kind, …)."""


def text_of(payload: bytes) -> str:
    """The payload as UTF-8 text, or a BAD_UTF8 rejection."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(RejectReason.BAD_UTF8, f"payload is not valid UTF-8 at byte {exc.start}") from None


def finite(name: str, value: float) -> float:
    """`value` when finite, else a NON_FINITE rejection naming the field."""
    if not math.isfinite(value):
        raise Rejected(RejectReason.NON_FINITE, f"field {name!r} is {value!r}; only finite numbers are readings")
    return value


def new_reading(topic: Mapping[str, str], fields: dict[str, FieldValue], ts_ns: int) -> Reading:
    """A reading with device and kind from the topic; the caller fills what the payload adds."""
    if not fields:
        raise Rejected(RejectReason.NO_FIELDS, "payload carries no numeric or boolean field")
    tags = {k: v for k, v in topic.items() if k not in {"device", "kind", "grid"}}
    reading = Reading(device=topic.get("device", ""), kind=topic.get("kind", ""), ts_ns=ts_ns, fields=fields, tags=tags)
    if "grid" in topic:
        reading.tags["topic_grid"] = topic["grid"]
    return reading
