"""JSON payloads: one object or a list of objects, with optional field mapping and timestamp path.

Without a mapping, every top-level number or boolean is a field (nested objects are flattened with
`_`), non-numeric strings are ignored, and a string that holds a number is a wrong type. With a
mapping, each named field is read from its dotted path, converted to its type and scaled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import isfinite
from typing import Literal

import orjson

from adapters.codecs.base import finite, new_reading, text_of
from adapters.codecs.timestamps import TimeUnit, to_ns
from gateway.model import FieldValue, Reading, Rejected, RejectReason

FieldType = Literal["float", "int", "bool"]
META_KEYS = frozenset({"device", "kind", "grid", "ts", "time", "timestamp"})
TIME_KEYS = ("ts", "timestamp", "time")
MAX_DEPTH = 3


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where one output field sits in the payload, its type and its scale."""

    path: tuple[str, ...]
    type: FieldType = "float"
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class JsonSettings:
    """How the JSON codec reads fields and the device timestamp."""

    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    timestamp_path: tuple[str, ...] | None = None
    timestamp_unit: TimeUnit = "auto"


class JsonCodec:
    """Decode JSON sensor payloads."""

    name = "json"

    def __init__(self, settings: JsonSettings | None = None) -> None:
        self.settings = settings or JsonSettings()

    def decode(self, payload: bytes, topic: Mapping[str, str], now_ns: int) -> list[Reading]:
        """One reading per JSON object (a list gives several)."""
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            doc = _parse_strictly(payload)  # bad input only: the json module names the fault precisely
        items = doc if isinstance(doc, list) else [doc]
        if not items:
            raise Rejected(RejectReason.NO_FIELDS, "empty JSON list")
        return [self._one(item, topic, now_ns) for item in items]

    def _one(self, item: object, topic: Mapping[str, str], now_ns: int) -> Reading:
        if not isinstance(item, dict):
            raise Rejected(RejectReason.WRONG_TYPE, f"expected a JSON object, got {type(item).__name__}")
        fields = self._mapped(item) if self.settings.fields else _auto_fields(item)
        reading = new_reading(topic, fields, self._timestamp(item, now_ns))
        for key in ("device", "kind"):
            value = item.get(key)
            if not getattr(reading, key) and isinstance(value, str) and value:
                setattr(reading, key, value)
        return reading

    def _mapped(self, item: dict[str, object]) -> dict[str, FieldValue]:
        out: dict[str, FieldValue] = {}
        for name, spec in self.settings.fields.items():
            value = _dig(item, spec.path)
            if value is None:
                continue  # a device may omit a field in one report; an empty report is rejected later
            out[name] = _convert(name, value, spec)
        return out

    def _timestamp(self, item: dict[str, object], now_ns: int) -> int:
        path = self.settings.timestamp_path
        if path is not None:
            value = _dig(item, path)
        else:
            value = item.get("ts")
            if value is None:
                value = item.get("timestamp", item.get("time"))
        if value is None:
            return now_ns
        return to_ns(value, self.settings.timestamp_unit)


def _parse_strictly(payload: bytes) -> object:
    """Parse what orjson refused with the json module: a precise reason (bad UTF-8, the error's line and
    column), and NaN/Infinity literals parsed, so they are rejected as non-finite fields, not as malformed."""
    text = text_of(payload)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} col {exc.colno}"
        raise Rejected(RejectReason.MALFORMED, f"invalid JSON: {exc.msg} at {where}") from None


def _dig(item: dict[str, object], path: tuple[str, ...]) -> object:
    node: object = item
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _convert(name: str, value: object, spec: FieldSpec) -> FieldValue:
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        raise Rejected(RejectReason.WRONG_TYPE, f"field {name!r} is {value!r}; expected true/false or 0/1")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(RejectReason.WRONG_TYPE, f"field {name!r} is {value!r}; expected a number")
    number = finite(name, float(value)) * spec.scale
    return int(number) if spec.type == "int" else number


def _auto_fields(item: dict[str, object], prefix: str = "", depth: int = 0) -> dict[str, FieldValue]:
    # The hot path of every JSON message: exact type checks (bool is an int subclass, so it is
    # tested by identity first) and no per-field function calls for the common float/int case.
    out: dict[str, FieldValue] = {}
    for key, value in item.items():
        if not prefix and key in META_KEYS:
            continue
        name = prefix + key if prefix else key
        kind = type(value)
        if kind is float:
            out[name] = value if isfinite(value) else finite(name, value)  # type: ignore[arg-type,assignment]
        elif kind is int:
            out[name] = float(value)  # type: ignore[arg-type]
        elif kind is bool:
            out[name] = value  # type: ignore[assignment]
        elif kind is str:
            if _looks_numeric(value):  # type: ignore[arg-type]
                raise Rejected(RejectReason.WRONG_TYPE, f"field {name!r} is the string {value!r}; send a JSON number")
        elif kind is dict and depth < MAX_DEPTH:
            out.update(_auto_fields(value, f"{name}_", depth + 1))  # type: ignore[arg-type]
    return out


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
