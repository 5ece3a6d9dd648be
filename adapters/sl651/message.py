"""SL 651-2014 message bodies (§6.6, Appendix C): serial, times, station, category and elements.

Each element is an identifier (leader byte, or 0xFF + extension byte) and a data-definition byte whose
high 5 bits are the data length and low 3 bits the decimals; data is BCD (a leading 0xFF: negative), except
the status word ZT (HEX) and the 5-minute series DRZ1 (12 × 2 bytes, 0.01 m) and DRP (12 × 1 byte, 0.1 mm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from adapters.sl651.framing import Sl651Frame
from gateway.model import Rejected, RejectReason

HEARTBEAT: Final = 0x2F
TEST: Final = 0x30
EVEN_PERIOD: Final = 0x31
TIMED: Final = 0x32
ALARM: Final = 0x33
HOURLY: Final = 0x34
REPORTS: Final[dict[int, str]] = {TEST: "test", EVEN_PERIOD: "even_period", TIMED: "timed", ALARM: "alarm",
                                  HOURLY: "hourly"}
"""Function codes whose body carries observations (Appendix B), by report name."""

ELEMENTS: Final[dict[int, tuple[str, str]]] = {
    0x39: ("Z", "water_level"),
    0x3A: ("ZB", "water_level_down"),
    0x3B: ("ZU", "water_level_up"),
    **{0x3C + i: (f"Z{i + 1}", f"water_level_z{i + 1}") for i in range(8)},
    0x20: ("PJ", "rain"),
    0x26: ("PT", "rain_total"),
    0x1A: ("P1", "rain_1h"),
    0x1F: ("PD", "rain_day"),
    0x22: ("PN05", "rain_5min"),
    0x38: ("VT", "voltage"),
    0x45: ("ZT", "status"),
    0x27: ("Q", "flow"),
}
"""Leader byte -> (identifier, field name) for the elements the gateway names; others keep `e<hex>`."""
LEVEL_LEADERS: Final = frozenset({0x39, 0x3A, 0x3B, *range(0x3C, 0x44), 0xF5})
RAIN_LEADERS: Final = frozenset({0x20, 0x26, 0x1A, 0x1F, 0x22, 0xF4})
DRP: Final = 0xF4
DRZ1: Final = 0xF5
STATUS: Final = 0x45


@dataclass(slots=True)
class Sl651Message:
    """A parsed uplink body."""

    function: int
    station: str
    serial: int
    send_time: str
    """`YYMMDDhhmmss` as sent."""
    category: str = ""
    observed: str = ""
    """`YYMMDDhhmm` of the (last) observation-time identifier."""
    values: dict[str, float | int] = field(default_factory=dict)
    """Field name -> value (m, mm, V; the status word as an integer)."""
    level_5min: list[float | None] = field(default_factory=list)
    """DRZ1: 12 relative water levels in m, one per 5 minutes of the hour (None = invalid)."""
    rain_5min: list[float | None] = field(default_factory=list)
    """DRP: 12 rainfalls in mm, one per 5 minutes of the hour (None = invalid)."""
    leaders: set[int] = field(default_factory=set)
    anomalies: list[str] = field(default_factory=list)

    @property
    def alarm(self) -> bool:
        """A threshold-triggered report (加报, 0x33) is itself an alarm."""
        return self.function == ALARM


def bcd(data: bytes) -> str:
    """BCD bytes as digits; ValueError when a nibble is not a digit."""
    digits = data.hex()
    if not digits.isdigit():
        raise ValueError(f"{digits.upper()} is not BCD")
    return digits


def bcd_value(data: bytes, decimals: int) -> float | None:
    """A BCD number with `decimals` implied decimals; a leading 0xFF makes it negative; all 0xFF is no data."""
    if data and all(b == 0xFF for b in data):
        return None
    negative = bool(data) and data[0] == 0xFF
    digits = bcd(data[1:] if negative else data)
    value = int(digits or "0") / float(10**decimals)
    return -value if negative else value


def parse_message(frame: Sl651Frame) -> Sl651Message:
    """Parse an uplink frame's body; `Rejected` when it is too short or malformed."""
    body = frame.body
    if len(body) < 8:
        raise Rejected(RejectReason.MALFORMED, f"body of {len(body)} bytes is shorter than serial and send time")
    try:
        send_time = bcd(body[2:8])
    except ValueError as exc:
        raise Rejected(RejectReason.MALFORMED, f"send time: {exc}") from None
    message = Sl651Message(frame.function, frame.station_hex, int.from_bytes(body[:2], "big"), send_time)
    if frame.function in REPORTS:
        _parse_report(body, 8, message)
    return message


def _parse_report(body: bytes, pos: int, message: Sl651Message) -> None:
    """Parse address, category, observation time and elements."""
    if body[pos : pos + 2] != b"\xf1\xf1" or len(body) < pos + 8:
        raise Rejected(RejectReason.MALFORMED, "report body lacks the F1F1 station address identifier")
    address = body[pos + 2 : pos + 7].hex().upper()
    if address != message.station:
        message.anomalies.append(f"body address {address} differs from the header's {message.station}")
    message.category = chr(body[pos + 7])
    pos += 8
    while pos < len(body):
        pos = _element(body, pos, message)
    if not message.observed:
        raise Rejected(RejectReason.MALFORMED, "report body has no F0F0 observation time")


def _element(body: bytes, pos: int, message: Sl651Message) -> int:
    """Parse the element at `pos`; returns the position after it (the end of the body when truncated)."""
    leader = body[pos]
    if leader == 0xF0 and body[pos + 1 : pos + 2] == b"\xf0":
        stamp = body[pos + 2 : pos + 7]
        try:
            message.observed = bcd(stamp) if len(stamp) == 5 else ""
        except ValueError as exc:
            raise Rejected(RejectReason.MALFORMED, f"observation time: {exc}") from None
        return pos + 7
    code = leader
    head = 2
    if leader == 0xFF:
        code = 0xFF00 | body[pos + 1] if pos + 1 < len(body) else 0xFF00
        head = 3
    if pos + head > len(body):
        message.anomalies.append(f"element 0x{code:02X} truncated")
        return len(body)
    definition = body[pos + head - 1]
    size, decimals = definition >> 3, definition & 7
    data = body[pos + head : pos + head + size]
    if len(data) < size:
        message.anomalies.append(f"element 0x{code:02X} truncated")
        return len(body)
    _store(code, data, decimals, message)
    return pos + head + size


def _store(code: int, data: bytes, decimals: int, message: Sl651Message) -> None:
    """Decode one element's data into the message."""
    message.leaders.add(code)
    if code == DRZ1:
        message.level_5min = [None if data[i : i + 2] == b"\xff\xff" else int.from_bytes(data[i : i + 2], "big") / 100
                              for i in range(0, len(data) - 1, 2)]
        return
    if code == DRP:
        message.rain_5min = [None if b == 0xFF else b / 10 for b in data]
        return
    name = ELEMENTS.get(code, ("", f"e{code:02x}"))[1]
    if code == STATUS:
        message.values[name] = int.from_bytes(data, "big")
        return
    try:
        value = bcd_value(data, decimals)
    except ValueError as exc:
        message.anomalies.append(f"element 0x{code:02X}: {exc}")
        return
    if value is not None:
        message.values[name] = value
