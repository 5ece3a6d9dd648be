"""SL 651 messages as readings: device = station address, kind water or rain, 5-minute series as points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from adapters.sl651.message import LEVEL_LEADERS, RAIN_LEADERS, REPORTS, Sl651Message
from gateway.model import FieldValue, Reading, Rejected, RejectReason

FIVE_MINUTES_NS = 300 * 10**9


@dataclass(frozen=True, slots=True)
class Sl651Settings:
    """How messages become readings."""

    timezone: str = "Asia/Shanghai"
    """Time zone of the stations' clocks (Beijing time)."""
    water_kind: str = "water"
    """Kind of a message carrying a water level."""
    rain_kind: str = "rain"
    """Kind of a message carrying rainfall and no water level."""

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)


def bcd_time_ns(digits: str, zone: ZoneInfo) -> int:
    """`YYMMDDhhmm[ss]` (20YY, local) in ns since the epoch; ValueError when it is not a date."""
    stamp = datetime.strptime("20" + digits.ljust(12, "0")[:12], "%Y%m%d%H%M%S").replace(tzinfo=zone)
    return int(stamp.timestamp()) * 1_000_000_000


def kind_of(message: Sl651Message, settings: Sl651Settings) -> str:
    """Water when any water-level element is present; rain when only rainfall; else by station category."""
    if message.leaders & LEVEL_LEADERS:
        return settings.water_kind
    if message.leaders & RAIN_LEADERS or message.category == "P":
        return settings.rain_kind
    return settings.water_kind


def to_readings(message: Sl651Message, settings: Sl651Settings, device: str | None = None) -> list[Reading]:
    """The observation as one reading, plus one per 5-minute point of DRZ1/DRP; none for a heartbeat."""
    report = REPORTS.get(message.function)
    if report is None:
        return []
    try:
        observed = bcd_time_ns(message.observed, ZoneInfo(settings.timezone))
    except ValueError:
        raise Rejected(RejectReason.MALFORMED, f"observation time {message.observed!r} is not a date") from None
    device_id = device or message.station
    kind = kind_of(message, settings)
    tags = {"report": report}
    readings: list[Reading] = []
    if message.values:
        fields: dict[str, FieldValue] = {**message.values, "alarm": message.alarm}
        readings.append(Reading(device_id, kind, observed, fields, tags=dict(tags)))
    readings.extend(_series(message, device_id, kind, observed, tags))
    if not readings:
        raise Rejected(RejectReason.NO_FIELDS, f"{report} report of station {message.station} carries no value")
    return readings


def _series(message: Sl651Message, device: str, kind: str, observed: int, tags: dict[str, str]) -> list[Reading]:
    """DRZ1/DRP points: the 12 values cover the hour ending at the observation time, 5 minutes apart."""
    points: dict[int, dict[str, FieldValue]] = {}
    for name, values in (("water_level_rel", message.level_5min), ("rain_5min", message.rain_5min)):
        for i, value in enumerate(values):
            if value is not None:
                points.setdefault(i, {})[name] = value
    start = observed - 12 * FIVE_MINUTES_NS
    return [Reading(device, kind, start + (i + 1) * FIVE_MINUTES_NS, {**fields, "alarm": message.alarm},
                    tags={**tags, "series": "5min"}) for i, fields in sorted(points.items())]
