"""Small codecs: a bare number, and InfluxDB line protocol."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.codecs.base import finite, new_reading, text_of
from adapters.codecs.timestamps import TimeUnit, to_ns
from gateway.model import FieldValue, Reading, Rejected, RejectReason
from gateway.model.lineproto import parse_line


class NumberCodec:
    """A payload that is one number (`21.5`), or `true`/`false` for alarm states."""

    name = "number"

    def __init__(self, field_name: str = "value") -> None:
        self.field_name = field_name

    def decode(self, payload: bytes, topic: Mapping[str, str], now_ns: int) -> list[Reading]:
        """One reading with one field."""
        text = text_of(payload).strip()
        lowered = text.lower()
        value: FieldValue
        if lowered in {"true", "false", "on", "off"}:
            value = lowered in {"true", "on"}
        else:
            try:
                value = finite(self.field_name, float(text))
            except ValueError:
                raise Rejected(RejectReason.MALFORMED, f"payload {text[:40]!r} is not a number") from None
        return [new_reading(topic, {self.field_name: value}, now_ns)]


class LineCodec:
    """InfluxDB line protocol, one or more lines; the measurement is the kind unless the topic names one."""

    name = "line"

    def __init__(self, precision: TimeUnit = "ns") -> None:
        self.precision = precision

    def decode(self, payload: bytes, topic: Mapping[str, str], now_ns: int) -> list[Reading]:
        """One reading per line; a `device` tag names the device when the topic does not."""
        lines = [ln for ln in text_of(payload).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if not lines:
            raise Rejected(RejectReason.NO_FIELDS, "no line protocol lines in payload")
        return [self._one(line, topic, now_ns) for line in lines]

    def _one(self, line: str, topic: Mapping[str, str], now_ns: int) -> Reading:
        try:
            measurement, tags, fields, ts = parse_line(line)
        except ValueError as exc:
            raise Rejected(RejectReason.MALFORMED, f"bad line protocol: {exc}") from None
        for name, value in fields.items():
            if isinstance(value, float):
                finite(name, value)
        numeric: dict[str, FieldValue] = {k: v for k, v in fields.items() if not isinstance(v, str)}
        ts_ns = now_ns if ts is None else to_ns(ts, self.precision)
        reading = new_reading(topic, numeric, ts_ns)
        reading.device = reading.device or tags.pop("device", "")
        reading.kind = reading.kind or measurement
        reading.tags.update({k: v for k, v in tags.items() if k not in {"kind", "grid"}})
        return reading
