"""HJ 212 packets as readings: device from MN, kind from ST, readable field names, µg/m³, data flags."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from adapters.hj212.factors import (
    FACTOR_NAMES,
    NOISE_FACTORS,
    PARTICULATES,
    SCALED_SUFFIXES,
    SKIPPED_SUFFIXES,
    field_name,
    unit_scale,
)
from adapters.hj212.layout import Constants, CpLayout, compile_function
from adapters.hj212.packet import CpValue, Hj212Packet
from gateway.model import FieldValue, Reading, Rejected, RejectReason

DATA_COMMANDS: Final = frozenset({"2011", "2021", "2031", "2041", "2051", "2061"})
"""Uploads that carry measurements (Table 9)."""
PERIOD_COMMANDS: Final = frozenset({"2031", "2041", "2051", "2061"})
"""Uploads whose DataTime is the start of a period, not the sampling instant (Table 4)."""
MAINTENANCE_FLAGS: Final = frozenset({"M", "C"})
"""Data flags for maintenance and calibration (Table 8): rules skip these readings by default."""
FLAG_PRIORITY: Final = ("M", "C", "D", "F", "B", "T", "S", "N")
"""Which flag a packet's `data_flag` shows when its factors disagree: the most telling first."""

DEFAULT_ST_KINDS: Final[dict[str, str]] = {
    "39": "dust", "22": "dust", "31": "dust",
    "23": "noise", "36": "noise",
    "21": "water_quality", "24": "water_quality", "32": "water_quality", "33": "water_quality",
}
"""ST (Table 5) -> kind: construction dust 39, and 22/31 when they carry particulates; noise 23/36."""


class DeviceInfo(Protocol):
    """What the codec needs of a registry device: its id and the units it sends (field -> unit)."""

    @property
    def id(self) -> str:
        """The registry's device id."""

    @property
    def units(self) -> Mapping[str, str]:
        """Units the device sends, by field name (`pm10`), factor code (`a34002`) or `particulates`."""


@dataclass(frozen=True, slots=True)
class ReadingSettings:
    """How packets become readings; every field has a default that suits a Chinese dust deployment."""

    timezone: str = "Asia/Shanghai"
    """Time zone of DataTime and QN (devices send local time; China is UTC+8)."""
    st_kinds: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ST_KINDS))
    """ST system code -> reading kind. A `dust` ST without particulates becomes `noise` or `air_kind`."""
    default_kind: str = "env"
    """Kind for an ST not in `st_kinds`."""
    air_kind: str = "air"
    """Kind for a `dust` ST packet with neither particulates nor noise (gas or weather only)."""
    factor_names: Mapping[str, str] = field(default_factory=lambda: dict(FACTOR_NAMES))
    """Factor code -> field name; unknown factors keep their code."""
    particulate_unit: str = "ug/m3"
    """Unit of particulates when the device does not say (ng/m3, ug/m3 or mg/m3); converted to µg/m³."""

    names: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Cache of field names by (factor, suffix)."""
    plans: dict[CpLayout, FieldPlan | None] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Cache of compiled field plans by CP layout (None where particulates need converting)."""

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)
        unit_scale(self.particulate_unit)

    @property
    def default_scale(self) -> float:
        """Multiplier to µg/m³ of `particulate_unit`."""
        return unit_scale(self.particulate_unit)

    def field_name(self, factor: str, suffix: str) -> str:
        """The field name of a factor's suffixed value, "" for suffixes that are no field (cached)."""
        key = (factor, suffix)
        name = self.names.get(key)
        if name is None:
            name = "" if suffix in SKIPPED_SUFFIXES else field_name(factor, suffix, self.factor_names)
            self.names[key] = name
        return name

    def plan(self, layout: CpLayout) -> FieldPlan | None:
        """The compiled field plan of a CP layout for devices without their own units (cached)."""
        if layout in self.plans:
            return self.plans[layout]
        plan = None if self.default_scale != 1.0 and any(f in PARTICULATES for f, _ in layout.factors) else \
            _compile_plan(layout, self)
        self.plans[layout] = plan
        return plan

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return _zone(self.timezone)


_ZONES: dict[str, ZoneInfo] = {}


def _zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo."""
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


@functools.lru_cache(maxsize=4096)
def data_time_ns(value: str, zone: ZoneInfo) -> tuple[int | None, str | None]:
    """DataTime (`YYYYMMDDhhmmss`, local) in ns since the epoch, with a note for the deviations tolerated.

    Cached: the devices of a site report the same DataTime each interval.
    """
    digits = value.strip()
    if not digits.isdigit() or len(digits) < 12:
        return None, f"DataTime {value[:20]!r} is not a time; receive time used"
    note = None if len(digits) == 14 else f"DataTime has {len(digits)} digits (14 expected)"
    padded = (digits + "00")[:14] if len(digits) < 14 else digits[:14]
    millis = int(digits[14:17].ljust(3, "0")) if len(digits) > 14 else 0
    try:
        stamp = datetime(int(padded[:4]), int(padded[4:6]), int(padded[6:8]), int(padded[8:10]),
                         int(padded[10:12]), int(padded[12:14]), tzinfo=zone)
    except ValueError:
        return None, f"DataTime {value[:20]!r} is not a valid date; receive time used"
    return int(stamp.timestamp()) * 1_000_000_000 + millis * 1_000_000, note


def kind_of(packet: Hj212Packet, settings: ReadingSettings) -> str:
    """The reading kind by ST; a dust ST carrying no particulates is noise (with noise factors) or default."""
    kind = settings.st_kinds.get(packet.st, settings.default_kind)
    if kind == "dust" and PARTICULATES.isdisjoint(packet.factors):
        return settings.air_kind if NOISE_FACTORS.isdisjoint(packet.factors) else "noise"
    return kind


def to_readings(packet: Hj212Packet, settings: ReadingSettings, now_ns: int,
                device: DeviceInfo | None = None) -> list[Reading]:
    """The readings of a data upload (none for other commands); `Rejected` when an upload has no values."""
    if packet.cn not in DATA_COMMANDS:
        return []
    fields = _fields(packet, settings, device)
    if not any(isinstance(v, float) for v in fields.values()):
        raise Rejected(RejectReason.NO_FIELDS, f"{packet.cn} upload of MN {packet.mn!r} carries no numeric value")
    ts_ns: int | None = None
    if packet.data_time is not None:
        ts_ns, note = data_time_ns(packet.data_time, settings.zone)
        if note:
            packet.anomalies.append(note)
    tags = {"cn": packet.cn}
    device_id = device.id if device is not None else packet.mn
    return [Reading(device=device_id, kind=kind_of(packet, settings), ts_ns=now_ns if ts_ns is None else ts_ns,
                    fields=fields, tags=tags)]


FieldPlan = Callable[[Mapping[str, Mapping[str, CpValue]], CpValue | None], tuple[dict[str, FieldValue],
                                                                                 tuple[CpValue | None, ...]]]
"""Compiled `_fields` for one CP layout: (factors, CP-level Flag) -> (fields, each factor's flag); KeyError
when the factors no longer have the layout's keys."""


def _compile_plan(layout: CpLayout, settings: ReadingSettings) -> FieldPlan:
    """`_fields` unrolled for one layout: the same names in the same order, read by key from the factors."""
    consts = Constants()
    sizes = [f"len(F) != {len(layout.factors)}"]
    lines, items, flags = [], [], []
    for at, (factor, suffixes) in enumerate(layout.factors):
        lines.append(f"a{at} = F[{consts.ref(factor)}]")
        sizes.append(f"len(a{at}) != {len(suffixes)}")
        items += [f"{consts.ref(name)}: a{at}[{consts.ref(suffix)}]" for suffix in suffixes
                  if (name := settings.field_name(factor, suffix))]
        flags.append(f"a{at}[{consts.ref('Flag')}]" if "Flag" in suffixes else "c")
    lines.append(f"if {' or '.join(sizes)}: raise KeyError")
    lines.append(f"return {{{', '.join(items)}}}, ({''.join(flag + ', ' for flag in flags)})")
    plan: FieldPlan = compile_function("F, c", lines, consts)
    return plan


def _fields(packet: Hj212Packet, settings: ReadingSettings, device: DeviceInfo | None) -> dict[str, FieldValue]:
    """Every factor's values under readable names, particulates in µg/m³, plus `data_flag` and `maintenance`."""
    if packet.layout is not None and (device is None or not device.units):
        plan = settings.plans.get(packet.layout) or settings.plan(packet.layout)
        if plan is not None:
            try:
                fields, flags = plan(packet.factors, packet.cp.get("Flag"))
            except KeyError:  # the factors were edited after parsing: the general way below
                pass
            else:
                return _flagged(fields, {f for f in flags if isinstance(f, str) and f})
    return _any_fields(packet, settings, device)


def _any_fields(packet: Hj212Packet, settings: ReadingSettings, device: DeviceInfo | None) -> dict[str, FieldValue]:
    """`_fields` for any packet and device, by walking the factors."""
    fields: dict[str, FieldValue] = {}
    flags: set[str] = set()
    cp_flag = packet.cp.get("Flag")
    names = settings.names
    for factor, values in packet.factors.items():
        scale = _scale(factor, settings, device) if factor in PARTICULATES else 1.0
        for suffix, value in values.items():
            name = names.get((factor, suffix)) or settings.field_name(factor, suffix)
            if name:
                fields[name] = _scaled(value, suffix, scale) if scale != 1.0 else value
        flag = values.get("Flag", cp_flag)
        if isinstance(flag, str) and flag:
            flags.add(flag)
    return _flagged(fields, flags)


def _flagged(fields: dict[str, FieldValue], flags: set[str]) -> dict[str, FieldValue]:
    """Add `data_flag` (the most telling of the factors' flags) and `maintenance` to the fields."""
    data_flag = _data_flag(frozenset(flags))
    fields["data_flag"] = data_flag
    fields["maintenance"] = data_flag in MAINTENANCE_FLAGS
    return fields


@functools.lru_cache(maxsize=256)
def _data_flag(flags: frozenset[str]) -> str:
    """The flag a packet shows: the first of FLAG_PRIORITY present, else the least other one, else N."""
    return next((f for f in FLAG_PRIORITY if f in flags), min(flags) if flags else "N")


def _scaled(value: CpValue, suffix: str, scale: float) -> FieldValue:
    """A concentration converted to µg/m³; anything else unchanged."""
    if isinstance(value, float) and suffix in SCALED_SUFFIXES:
        return round(value * scale, 6)
    return value


def _scale(factor: str, settings: ReadingSettings, device: DeviceInfo | None) -> float:
    """The multiplier to µg/m³ for one particulate factor of this device."""
    if device is None or not device.units:
        return settings.default_scale
    name = settings.factor_names.get(factor, factor)
    units = device.units
    unit = units.get(name) or units.get(factor) or units.get("particulates") or settings.particulate_unit
    try:
        return unit_scale(unit)
    except ValueError as exc:
        raise Rejected(RejectReason.WRONG_TYPE, f"device {packet_device(device)}: {exc}") from None


def packet_device(device: DeviceInfo | None) -> str:
    """A device's id for messages."""
    return device.id if device is not None else "?"
