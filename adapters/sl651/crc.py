"""SL 651-2014 CRC (Appendix H.3.2): CRC-16/Modbus arithmetic over every byte before the CRC, sent big-endian."""

from __future__ import annotations

from typing import Final


def _entry(index: int) -> int:
    """Eight reflected shifts of one byte under polynomial 0xA001."""
    value = index
    for _ in range(8):
        value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
    return value


_TABLE: Final = tuple(_entry(i) for i in range(256))


def sl651_crc(data: bytes) -> int:
    """The frame CRC: init 0xFFFF, `crc ^= byte`, reflected 0xA001; the frame carries it high byte first."""
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
