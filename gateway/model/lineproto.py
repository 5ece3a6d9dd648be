"""InfluxDB line protocol: how a reading is journaled and written, and how it is read back.

The journal stores each reading as one line, so the InfluxDB writer posts journal rows as they are
and nothing builds an object per reading on the hot path. All numbers are written as floats: a field
that is sometimes integer and sometimes float would otherwise be a type conflict InfluxDB rejects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from gateway.model import FieldValue, GridCell, Reading

_MEASUREMENT_ESC = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_TAG_ESC = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})


def escape_measurement(name: str) -> str:
    """Escape a measurement name."""
    return name.translate(_MEASUREMENT_ESC)


def escape_tag(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.translate(_TAG_ESC)


def series_key(measurement: str, tags: Mapping[str, str]) -> str:
    """The `measurement,tag=value,…` prefix of a line, tags sorted as InfluxDB prefers; empty tags dropped."""
    parts = [escape_measurement(measurement)]
    parts.extend(f"{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if v != "")
    return ",".join(parts)


def reading_tags(reading: Reading) -> dict[str, str]:
    """The tag set of a reading: its own tags, then device, kind and the four grid levels."""
    tags = dict(reading.tags)
    tags["device"] = reading.device
    tags["kind"] = reading.kind
    if reading.grid is not None:
        tags.update(reading.grid.levels())
    return tags


def format_field(value: FieldValue) -> str | None:
    """One field value in line protocol, or None for a value that cannot be written (NaN, ±Inf)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        return repr(number) if math.isfinite(number) else None
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


_FIELD_KEYS: dict[str, str] = {}
"""Escaped field keys by name: a gateway sees a few dozen distinct names, escaped once each."""


def _field_key(name: str) -> str:
    key = _FIELD_KEYS.get(name)
    if key is None:
        if len(_FIELD_KEYS) > 10_000:
            _FIELD_KEYS.clear()
        key = _FIELD_KEYS[name] = escape_tag(name) + "="
    return key


def format_fields(fields: Mapping[str, FieldValue]) -> str:
    """The field set of a line; fields that cannot be written (NaN, ±Inf) are left out."""
    # Per reading on the hot path: exact type checks, the float case first.
    out = []
    for name, value in fields.items():
        kind = type(value)
        if kind is float:
            if math.isfinite(value):  # type: ignore[arg-type]
                out.append(_field_key(name) + repr(value))
        elif kind is int:
            out.append(_field_key(name) + repr(float(value)))
        else:
            text = format_field(value)
            if text is not None:
                out.append(_field_key(name) + text)
    return ",".join(out)


def encode_line(prefix: str, fields: Mapping[str, FieldValue], ts_ns: int) -> str:
    """A whole line from a series prefix (see `series_key`), fields and a timestamp in ns."""
    return f"{prefix} {format_fields(fields)} {ts_ns}"


def encode_reading(reading: Reading) -> str:
    """A reading as one line of line protocol, measurement = its kind."""
    return encode_line(series_key(reading.kind, reading_tags(reading)), reading.fields, reading.ts_ns)


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is neither escaped nor inside a double-quoted string."""
    parts: list[str] = []
    start = 0
    i = 0
    quoted = False
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt == "n" else nxt)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def parse_field_value(text: str) -> FieldValue:
    """One field value: float, `123i`/`123u` integer, bool or quoted string. Raises ValueError."""
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    lowered = text.lower()
    if lowered in {"t", "true"}:
        return True
    if lowered in {"f", "false"}:
        return False
    if text[-1:] in {"i", "u"}:
        return int(text[:-1])
    return float(text)


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, FieldValue], int | None]:
    """Parse one line into measurement, tags, fields and timestamp (ns, or None). Raises ValueError."""
    sections = _split_unescaped(line.strip(), " ")
    sections = [s for s in sections if s != ""]
    if len(sections) not in {2, 3}:
        raise ValueError("a line has a series, a field set and an optional timestamp, separated by spaces")
    head = _split_unescaped(sections[0], ",")
    measurement = _unescape(head[0])
    if not measurement:
        raise ValueError("empty measurement")
    tags: dict[str, str] = {}
    for pair in head[1:]:
        key, eq, value = pair.partition("=")
        if not eq or not key or not value:
            raise ValueError(f"bad tag {pair!r}")
        tags[_unescape(key)] = _unescape(value)
    fields: dict[str, FieldValue] = {}
    for pair in _split_unescaped(sections[1], ","):
        key, eq, value = pair.partition("=")
        if not eq or not key or not value:
            raise ValueError(f"bad field {pair!r}")
        fields[_unescape(key)] = parse_field_value(value)
    ts = int(sections[2]) if len(sections) == 3 else None
    return measurement, tags, fields, ts


def reading_from_line(line: str) -> Reading:
    """Rebuild a journaled reading from its line (for the rule engine's replay and `edge.py tail`)."""
    measurement, tags, fields, ts = parse_line(line)
    device = tags.pop("device", "")
    kind = tags.pop("kind", measurement)
    grid_code = tags.pop("grid", "")
    for level in ("district", "street", "community"):
        tags.pop(level, None)
    grid = GridCell(grid_code) if grid_code else None
    return Reading(device=device, kind=kind, ts_ns=ts or 0, fields=fields, grid=grid, tags=tags)
