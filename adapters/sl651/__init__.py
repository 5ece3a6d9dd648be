"""SL 651-2014 (HEX/BCD mode) for water-level and rain stations: codec and TCP server input.

Public surface: `encode_frame`, `FrameReader`, `Sl651Frame`, `parse_message`, `Sl651Message`,
`to_readings`, `Sl651Settings`, `reply`, `sl651_crc`.
"""

from __future__ import annotations

from adapters.sl651.crc import sl651_crc
from adapters.sl651.framing import EOT, ESC, FrameReader, Sl651Frame, encode_frame
from adapters.sl651.message import ALARM, HEARTBEAT, HOURLY, TEST, TIMED, Sl651Message, bcd_value, parse_message
from adapters.sl651.readings import Sl651Settings, to_readings
from adapters.sl651.replies import reply

__all__ = [
    "ALARM",
    "EOT",
    "ESC",
    "HEARTBEAT",
    "HOURLY",
    "TEST",
    "TIMED",
    "FrameReader",
    "Sl651Frame",
    "Sl651Message",
    "Sl651Settings",
    "bcd_value",
    "encode_frame",
    "parse_message",
    "reply",
    "sl651_crc",
    "to_readings",
]
