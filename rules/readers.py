"""Readers of recorded readings from text lines (the caller opens files): CSV, JSONL, Beijing air-quality CSV.

Every bad row becomes a counted rejection with a reason and an example; good rows become Readings
(grouped per device and time, fields that are blank or NA left out).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.model import FieldValue, GridCell, Reading, RejectReason
from rules.durations import NS_PER_S
from rules.schema import DEFAULT_TIMEZONE

MAX_EXAMPLES = 10
_MISSING = frozenset({"", "NA", "NaN", "nan", "null", "None"})
_BEIJING_FIELDS = {"PM2.5": "pm25", "PM10": "pm10", "SO2": "so2", "NO2": "no2", "CO": "co", "O3": "o3",
                   "TEMP": "temp", "PRES": "pres", "DEWP": "dewp", "RAIN": "rain", "WSPM": "wspm"}  # fmt: skip


@dataclass
class ReadStats:
    """Rows read and rejected, by reason, with the first few examples."""

    rows: int = 0
    readings: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def reject(self, reason: RejectReason, detail: str) -> None:
        """Count a rejected row."""
        self.rejected[reason.value] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{reason.value}: {detail}")


def parse_ts(text: str, zone: ZoneInfo) -> int:
    """Epoch ns from ISO 8601 (naive = `zone` local time) or integer epoch s/ms/us/ns (by digit count)."""
    text = text.strip()
    digits = text.lstrip("-")
    if digits.isdigit():
        value = int(text)
        scale = {10: NS_PER_S, 13: 1_000_000, 16: 1_000, 19: 1}.get(len(digits))
        if scale is None:
            raise ValueError(f"epoch {text!r} is not 10 (s), 13 (ms), 16 (us) or 19 (ns) digits")
        return value * scale
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp()) * NS_PER_S + moment.microsecond * 1000


def _value(text: str) -> FieldValue | None:
    """A CSV cell as a number, bool or short text; None when missing."""
    text = text.strip()
    if text in _MISSING:
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        raise ValueError(f"non-finite value {text!r}")
    return number


def read_csv(
    lines: Iterable[str], stats: ReadStats | None = None, tz: str = DEFAULT_TIMEZONE, first_line: int = 2
) -> Iterator[Reading]:
    """Readings from CSV with columns ts, device, kind (optional), grid (optional) and fields.

    Rows are numbered from `first_line` in rejections (the header is line 1).
    """
    stats = stats if stats is not None else ReadStats()
    zone = ZoneInfo(tz)
    reader = csv.DictReader(iter(lines))
    names = reader.fieldnames or []
    if "ts" not in names or "device" not in names:
        stats.reject(RejectReason.MALFORMED, f"header {names} lacks ts and device columns")
        return
    meta = {"ts", "device", "kind", "grid"}
    for number, row in enumerate(reader, start=first_line):
        stats.rows += 1
        reading = _row(row, meta, zone, stats, f"line {number}")
        if reading is not None:
            stats.readings += 1
            yield reading


def _row(row: dict[str, str], meta: set[str], zone: ZoneInfo, stats: ReadStats, where: str) -> Reading | None:
    """One CSV row as a Reading, or a counted rejection."""
    if None in row:
        stats.reject(RejectReason.MALFORMED, f"{where}: more cells than columns")
        return None
    try:
        ts = parse_ts(row["ts"] or "", zone)
        fields = {k: v for k, v in ((k, _value(c or "")) for k, c in row.items() if k not in meta) if v is not None}
        grid = GridCell(row["grid"].strip()) if row.get("grid") else None
    except ValueError as exc:
        reason = RejectReason.NON_FINITE if "non-finite" in str(exc) else RejectReason.MALFORMED
        stats.reject(reason, f"{where}: {exc}")
        return None
    device = (row.get("device") or "").strip()
    if not device:
        stats.reject(RejectReason.MALFORMED, f"{where}: empty device")
        return None
    if not fields:
        stats.reject(RejectReason.NO_FIELDS, f"{where}: no field values")
        return None
    return Reading(device=device, kind=(row.get("kind") or "").strip(), ts_ns=ts, fields=fields, grid=grid)


def read_jsonl(
    lines: Iterable[str], stats: ReadStats | None = None, tz: str = DEFAULT_TIMEZONE, first_line: int = 1
) -> Iterator[Reading]:
    """Readings from JSON lines: {"ts": …, "device": …, "kind": …, "grid": …, "fields": {…}}."""
    stats = stats if stats is not None else ReadStats()
    zone = ZoneInfo(tz)
    for number, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        stats.rows += 1
        reading = _json_line(line, zone, stats, f"line {number}")
        if reading is not None:
            stats.readings += 1
            yield reading


def _json_line(line: str, zone: ZoneInfo, stats: ReadStats, where: str) -> Reading | None:
    """One JSON line as a Reading, or a counted rejection."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        stats.reject(RejectReason.MALFORMED, f"{where}: {exc.msg}")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("fields"), dict) or not data.get("device"):
        stats.reject(RejectReason.MALFORMED, f"{where}: needs an object with device, ts and fields")
        return None
    fields = {k: v for k, v in data["fields"].items() if isinstance(v, bool | int | float | str)}
    if any(isinstance(v, float) and not math.isfinite(v) for v in fields.values()):
        stats.reject(RejectReason.NON_FINITE, f"{where}: non-finite field value")
        return None
    if not fields:
        stats.reject(RejectReason.NO_FIELDS, f"{where}: no usable field values")
        return None
    try:
        ts = parse_ts(str(data.get("ts", "")), zone)
        grid = GridCell(str(data["grid"])) if data.get("grid") else None
    except ValueError as exc:
        stats.reject(RejectReason.MALFORMED, f"{where}: {exc}")
        return None
    return Reading(device=str(data["device"]), kind=str(data.get("kind", "")), ts_ns=ts, fields=fields, grid=grid)


def read_beijing_air(
    lines: Iterable[str],
    stats: ReadStats | None = None,
    tz: str = DEFAULT_TIMEZONE,
    kind: str = "air",
    first_line: int = 2,
) -> Iterator[Reading]:
    """Readings from the UCI Beijing multi-site air-quality CSV (No,year,month,day,hour,PM2.5,…,station).

    Times are Beijing local time; pollutant columns become lower-case fields (PM2.5 → pm25), NA cells
    are left out, and the station is the device.
    """
    stats = stats if stats is not None else ReadStats()
    zone = ZoneInfo(tz)
    reader = csv.DictReader(iter(lines))
    needed = {"year", "month", "day", "hour", "station"}
    if not needed <= set(reader.fieldnames or []):
        stats.reject(RejectReason.MALFORMED, f"header {reader.fieldnames} is not the Beijing air-quality format")
        return
    for number, row in enumerate(reader, start=first_line):
        stats.rows += 1
        try:
            moment = datetime(int(row["year"]), int(row["month"]), int(row["day"]), int(row["hour"]), tzinfo=zone)
            fields: dict[str, FieldValue] = {}
            for column, name in _BEIJING_FIELDS.items():
                value = _value(row.get(column) or "")
                if isinstance(value, float):
                    fields[name] = value
        except (ValueError, TypeError) as exc:
            stats.reject(RejectReason.MALFORMED, f"line {number}: {exc}")
            continue
        if not fields:
            stats.reject(RejectReason.NO_FIELDS, f"line {number}: every value is NA")
            continue
        stats.readings += 1
        yield Reading(device=row["station"], kind=kind, ts_ns=int(moment.timestamp()) * NS_PER_S, fields=fields)


Reader = Callable[..., Iterator[Reading]]
READERS: dict[str, Reader] = {"csv": read_csv, "jsonl": read_jsonl, "beijing": read_beijing_air}
"""Readers by format name, for the command line's --format."""
