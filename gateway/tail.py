"""How `edge.py tail` and the demo show a journaled reading: time, kind, device, cell, fields."""

from __future__ import annotations

from datetime import datetime

from gateway.model.lineproto import parse_line


def format_line(line: str) -> str:
    """One journal line as a short human-readable row."""
    try:
        measurement, tags, fields, ts = parse_line(line)
    except ValueError:
        return line
    when = datetime.fromtimestamp((ts or 0) / 1e9).strftime("%H:%M:%S.%f")[:-3]
    values = " ".join(f"{k}={_show(v)}" for k, v in fields.items())
    where = tags.get("grid") or tags.get("gateway", "")
    return f"{when}  {measurement:<6} {tags.get('device', ''):<14} {where:<15}  {values}"


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
