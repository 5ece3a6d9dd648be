"""The HJ 212-2017 CRC (Appendix A): not CRC-16/Modbus, the register's low byte is dropped each step."""

from __future__ import annotations

import sys
from typing import Final


def _shift8(value: int) -> int:
    """Eight reflected shifts of `value` under polynomial 0xA001 (the per-byte step of Appendix A)."""
    for _ in range(8):
        value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
    return value


_FULL: Final = tuple(_shift8(x) for x in range(256))
"""Register after one byte, indexed by `(register >> 8) ^ byte` (only 8 bits of state survive a step)."""

_HIGH: Final = bytes(v >> 8 for v in _FULL)
"""High byte of `_FULL`: the only state the next step reads."""


def _pair_table() -> bytes:
    """High byte after two steps, indexed by a native-order 16-bit pair XOR the carried high byte."""
    table = bytearray(65536)
    little = sys.byteorder == "little"
    for first in range(256):
        after_first = _HIGH[first]
        for second in range(256):
            index = (second << 8 | first) if little else (first << 8 | second)
            table[index] = _HIGH[after_first ^ second]
    return bytes(table)


_PAIR: Final = _pair_table()


_CARRY_SHIFT: Final = 0 if sys.byteorder == "little" else 8
"""Where the carried high byte sits in a native-order pair (it XORs the pair's first byte)."""


def hj212_crc(data: bytes) -> int:
    """The CRC of a data segment, as Appendix A computes it (format with `%04X`)."""
    if not data:
        return 0xFFFF
    body = memoryview(data)[:-1]
    even = len(body) & ~1
    high = 0xFF
    shift = _CARRY_SHIFT
    pair_table = _PAIR
    for pair in body[:even].cast("H"):
        high = pair_table[pair ^ (high << shift)]
    for byte in body[even:]:
        high = _HIGH[high ^ byte]
    return _FULL[high ^ data[-1]]


def hj212_crc_slow(data: bytes) -> int:
    """The standard's reference algorithm, bit by bit (kept to cross-check the table version)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ byte
        for _ in range(8):
            lsb = crc & 1
            crc >>= 1
            if lsb:
                crc ^= 0xA001
    return crc
