"""The HJ 212 data segment (Table 3) and CP area (§6.3.3), parsed leniently into a `Hj212Packet`.

Devices deviate from the standard (missing QN/Flag, `;` between every CP item, typos such as
`LA-Rtd-Rtd`, a CP-level `Flag=N`); those packets are parsed and each deviation is noted in `anomalies`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Final

from adapters.hj212.factors import KNOWN_SUFFIXES, TEXT_SUFFIXES
from adapters.hj212.layout import CpLayout, parse_clean_cp
from gateway.model import Rejected, RejectReason

CpValue = float | str
"""A CP item value: numbers as floats, flags and times as text."""

HEADER_KEYS: Final = frozenset({"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"})


@dataclass(slots=True)
class Hj212Packet:
    """One parsed data segment: header fields, Flag bits, the CP area by factor, and what was odd."""

    text: str
    qn: str | None = None
    st: str = ""
    cn: str = ""
    pw: str = ""
    mn: str = ""
    flag: int | None = None
    pnum: int | None = None
    pno: int | None = None
    data_time: str | None = None
    factors: dict[str, dict[str, CpValue]] = field(default_factory=dict)
    """Factor code -> suffix -> value, e.g. `{"a34002": {"Rtd": 62.7, "Flag": "N"}}`."""
    cp: dict[str, str] = field(default_factory=dict)
    """CP items that belong to no factor (`RtdInterval`, `QnRtn`, a CP-level `Flag`…), as text."""
    anomalies: list[str] = field(default_factory=list)
    layout: CpLayout | None = field(default=None, repr=False, compare=False)
    """The cached layout of the CP keys when the fast parser read them (lets `to_readings` reuse its work)."""

    @property
    def version(self) -> int | None:
        """The Flag's version bits V5..V0: 0 = HJ/T 212-2005, 1 = HJ 212-2017; None without Flag."""
        return None if self.flag is None else self.flag >> 2

    @property
    def ack_requested(self) -> bool:
        """Flag bit A: the sender wants a reply (9014 for an upload)."""
        return self.flag is not None and bool(self.flag & 1)

    @property
    def split(self) -> bool:
        """Flag bit D: the packet is one of several (PNUM/PNO present)."""
        return self.flag is not None and bool(self.flag & 2)


def parse_segment(segment: bytes | str) -> Hj212Packet:
    """Parse a data segment (the text between `##LLLL` and the CRC); `Rejected` when it is not one."""
    text = _text(segment) if isinstance(segment, bytes) else segment
    head, cp_text = _split_cp(text)
    packet = Hj212Packet(text=text)
    if isinstance(segment, bytes) and not segment.isascii():
        packet.anomalies.extend(_encoding_notes(segment))
    _parse_header(head, packet)
    if cp_text is not None:
        _parse_cp(cp_text, packet)
    else:
        packet.anomalies.append("no CP=&&…&& area")
    return packet


def _text(segment: bytes) -> str:
    """The segment as text: UTF-8 per the standard, GB 18030 from old devices (noted), else rejected."""
    try:
        return segment.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return segment.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise Rejected(RejectReason.BAD_UTF8, f"segment is neither UTF-8 nor GB 18030 at byte {exc.start}") from None


def _encoding_notes(segment: bytes) -> list[str]:
    """A note when non-ASCII text was not UTF-8."""
    try:
        segment.decode("utf-8")
    except UnicodeDecodeError:
        return ["text is GB 18030, not UTF-8"]
    return []


def _split_cp(text: str) -> tuple[str, str | None]:
    """Split the header fields from the CP area's content (between `CP=&&` and the last `&&`)."""
    at = text.find("CP=&&")
    if at < 0:
        return text, None
    body = text[at + 5 :]
    close = body.rfind("&&")
    return text[:at], (body[:close] if close >= 0 else body)


_CLEAN_HEAD: Final = re.compile(r"QN=([0-9]{17});ST=([^;=\s]*);CN=([^;=\s]+);PW=([^;=\s]*);MN=([^;=\s]+);"
                                r"Flag=([0-9]{1,3});")
"""The standard's header in the standard's order, nothing odd about it (the fast path of `_parse_header`)."""


def _parse_header(head: str, packet: Hj212Packet) -> None:
    """Fill QN, ST, CN, PW, MN, Flag, PNUM and PNO from `key=value` items in any order."""
    clean = _CLEAN_HEAD.fullmatch(head)
    if clean is not None and int(clean[6]) <= 255:
        packet.qn, packet.st, packet.cn, packet.pw, packet.mn, flag = clean.groups()
        packet.flag = int(flag)
        _note_header(packet)
        return
    _parse_any_header(head, packet)


def _parse_any_header(head: str, packet: Hj212Packet) -> None:
    """The general header parser: items in any order, unknown or missing fields noted."""
    values: dict[str, str] = {}
    for item in head.split(";"):
        key, sep, value = item.strip().partition("=")
        if not sep:
            if key:
                packet.anomalies.append(f"header item {key[:20]!r} has no '='")
            continue
        if key not in HEADER_KEYS:
            packet.anomalies.append(f"unknown header field {key[:20]!r}")
        values[key] = value
    packet.qn = values.get("QN")
    packet.st, packet.cn = values.get("ST", ""), values.get("CN", "")
    packet.pw, packet.mn = values.get("PW", ""), values.get("MN", "")
    if not packet.mn:
        raise Rejected(RejectReason.MALFORMED, "data segment has no MN (device id)")
    if not packet.cn:
        raise Rejected(RejectReason.MALFORMED, f"data segment of MN {packet.mn!r} has no CN (command)")
    packet.flag = _int_field(values, "Flag", packet, 0, 255)
    packet.pnum = _int_field(values, "PNUM", packet, 1, 9999)
    packet.pno = _int_field(values, "PNO", packet, 1, 9999)
    _note_header(packet)


def _int_field(values: dict[str, str], key: str, packet: Hj212Packet, low: int, high: int) -> int | None:
    """An integer header field within bounds, or None with a note when it is missing or bad."""
    raw = values.get(key)
    if raw is None:
        return None
    if raw.isdigit() and low <= int(raw) <= high:
        return int(raw)
    packet.anomalies.append(f"{key}={raw[:12]!r} is not an integer in {low}..{high}; ignored")
    return None


def _note_header(packet: Hj212Packet) -> None:
    """Note deviations of a parsed header: 2005-style packets, odd QN, a version other than 2017."""
    if packet.qn is None:
        packet.anomalies.append("no QN")
    elif not (packet.qn.isdigit() and len(packet.qn) == 17):
        packet.anomalies.append(f"QN {packet.qn[:24]!r} is not 17 digits")
    if packet.flag is None:
        packet.anomalies.append("no Flag")
    elif packet.version not in {0, 1}:
        packet.anomalies.append(f"Flag {packet.flag} has version {packet.version} (1 = HJ 212-2017)")
    if (packet.pnum is None) != (packet.pno is None) or (packet.split and packet.pnum is None):
        packet.anomalies.append("PNUM/PNO incomplete")


_CP_ITEM: Final = re.compile(r"\s*([^;,=\s-]*)(?:-([^;,=\s]*))?\s*=([^;,]*)")
"""One CP item: factor (or a CP-level key), optional `-suffix`, and the value."""


def _parse_cp(cp_text: str, packet: Hj212Packet) -> None:
    """Fill DataTime, factors and CP-level items; `;` and `,` are both accepted between items."""
    if "," not in cp_text and cp_text.count(";") > 1 and "-Flag" not in cp_text:
        packet.anomalies.append("';' between all CP items, no data flags")
    clean = parse_clean_cp(cp_text)
    if clean is None:
        _parse_any_cp(cp_text, packet)
        return
    packet.layout, packet.factors, packet.cp, packet.data_time = clean
    if packet.data_time is None and packet.factors:
        packet.anomalies.append("no DataTime")


def _parse_any_cp(cp_text: str, packet: Hj212Packet) -> None:
    """The general CP parser: any spacing and separators, every deviation noted (the reference)."""
    items = _CP_ITEM.findall(cp_text)
    if len(items) != cp_text.count(";") + cp_text.count(",") + (1 if cp_text.strip() else 0):
        packet.anomalies.append("CP items without '=' ignored")
    factors = packet.factors
    for factor, written, value in items:
        if not written:
            _cp_level(factor, value, packet)
            continue
        suffix = written if written in KNOWN_SUFFIXES else _normal_suffix(f"{factor}-{written}", written, packet)
        slot = factors.get(factor)
        if slot is None:
            slot = factors[factor] = {}
        elif suffix in slot:
            packet.anomalies.append(f"{factor}-{suffix} repeated; last value kept")
        if suffix in TEXT_SUFFIXES:
            slot[suffix] = value
            continue
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        slot[suffix] = number if math.isfinite(number) else _not_number(f"{factor}-{suffix}", value, packet)
    if packet.data_time is None and factors:
        packet.anomalies.append("no DataTime")


def _cp_level(key: str, value: str, packet: Hj212Packet) -> None:
    """Store an item that belongs to no factor: DataTime, or a CP-level item such as RtdInterval."""
    if key == "DataTime":
        packet.data_time = value
        return
    if key == "Flag":
        packet.anomalies.append("CP-level Flag (applies to every factor)")
    packet.cp[key] = value


def _normal_suffix(key: str, suffix: str, packet: Hj212Packet) -> str:
    """The suffix with typos undone (`Rtd-Rtd` -> `Rtd`, `td` -> `Rtd`); unknown ones are kept and noted."""
    parts = suffix.split("-")
    fixed = next((p for p in reversed(parts) if p in KNOWN_SUFFIXES), None)
    if fixed is None and suffix.lower() in {"td", "rt d", "rdt"}:
        fixed = "Rtd"
    if fixed is None:
        fixed = next((k for k in KNOWN_SUFFIXES if k.lower() == suffix.lower()), None)
    packet.anomalies.append(f"unknown suffix in {key!r}" + (f"; read as -{fixed}" if fixed else ""))
    return fixed or suffix


def _not_number(key: str, value: str, packet: Hj212Packet) -> str:
    """Keep a value that is not a finite number as text, and note it."""
    packet.anomalies.append(f"{key}={value[:16]!r} is not a finite number")
    return value

