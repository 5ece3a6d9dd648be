"""Payload codecs, by name. A new codec is one module plus one entry here."""

from __future__ import annotations

from collections.abc import Callable

from adapters.codecs.base import Codec
from adapters.codecs.json_codec import FieldSpec, JsonCodec, JsonSettings
from adapters.codecs.simple import LineCodec, NumberCodec
from adapters.hj212.codec import Hj212Codec

__all__ = ["CODECS", "Codec", "FieldSpec", "JsonCodec", "JsonSettings", "LineCodec", "NumberCodec"]

CODECS: dict[str, Callable[..., Codec]] = {
    "json": JsonCodec,
    "number": NumberCodec,
    "line": LineCodec,
    "hj212": Hj212Codec,
}
"""Codec factories by the name a subscription's `codec` key uses."""
