"""The HJ 212-2017 CRC (Appendix A): not CRC-16/Modbus, the register's low byte is dropped each step.

Each step is `reg = T[(reg >> 8) ^ byte]`, so only the register's high byte `h` carries state, and
`h' = U(h ^ byte)` with `U` linear over GF(2) and of order 8 (U⁸ = identity). The high byte after n bytes
is therefore `Uⁿ(h₀) ⊕ ⊕ᵣ Uʳ(xᵣ)`, where `xᵣ` is the XOR of the bytes whose distance from the end is r mod 8:
eight table lookups after XOR-folding the data as one big integer. `hj212_crc_slow` is the standard's loop.
"""

from __future__ import annotations

from typing import Final


def _shift8(value: int) -> int:
    """Eight reflected shifts of `value` under polynomial 0xA001 (the per-byte step of Appendix A)."""
    for _ in range(8):
        value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
    return value


_FULL: Final = tuple(_shift8(x) for x in range(256))
"""Register after one byte, indexed by `(register >> 8) ^ byte`."""


def _powers() -> tuple[bytes, ...]:
    """`Uʳ` for r = 0..7 as byte tables, where `U(x)` is the high byte of `_FULL[x]`."""
    step = bytes(v >> 8 for v in _FULL)
    tables = [bytes(range(256))]
    for _ in range(7):
        tables.append(bytes(step[x] for x in tables[-1]))
    if bytes(step[x] for x in tables[-1]) != tables[0]:
        raise AssertionError("U must have order 8")
    return tuple(tables)


_POW: Final = _powers()


def _fold64(data: bytes) -> int:
    """XOR of the 8-byte big-endian words of `data` (its length a multiple of 8)."""
    value = int.from_bytes(data, "big")
    words = len(data) >> 3
    while words > 1:
        half = words >> 1
        shift = half << 6
        value = (value >> shift) ^ (value & ((1 << shift) - 1))
        words -= half
    return value


_P1, _P2, _P3, _P4, _P5, _P6, _P7 = _POW[1:]


def hj212_crc(data: bytes) -> int:
    """The CRC of a data segment, as Appendix A computes it (format with `%04X`)."""
    if not data:
        return 0xFFFF
    count = len(data) - 1
    w = _fold64(bytes(-count & 7) + data[:-1]).to_bytes(8, "big") if count else bytes(8)
    high = (_POW[count & 7][0xFF] ^ w[0] ^ _P7[w[1]] ^ _P6[w[2]] ^ _P5[w[3]] ^ _P4[w[4]] ^ _P3[w[5]]
            ^ _P2[w[6]] ^ _P1[w[7]])
    return _FULL[high ^ data[-1]]


_STEP: Final = bytes(v >> 8 for v in _FULL)
"""`U`: the register's high byte after one byte, indexed by `high ^ byte`."""


def crc_joiner(tail: bytes) -> tuple[bytes, int, int]:
    """What `crc_joined` needs to append the fixed, non-empty `tail` to any non-empty head: (`U^(m-1)`, G, last)."""
    high = 0
    for byte in tail[:-1]:
        high = _STEP[high ^ byte]
    return _POW[(len(tail) - 1) & 7], high, tail[-1]


def crc_joined(head: bytes, joiner: tuple[bytes, int, int]) -> int:
    """`hj212_crc(head + tail)` for a short non-empty head, by linearity: only the head is walked."""
    high = 0xFF
    for byte in head:
        high = _STEP[high ^ byte]
    power, fixed, last = joiner
    return _FULL[power[high] ^ fixed ^ last]


def hj212_crc_slow(data: bytes) -> int:
    """The standard's reference algorithm, bit by bit (kept to cross-check the fast version)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ byte
        for _ in range(8):
            lsb = crc & 1
            crc >>= 1
            if lsb:
                crc ^= 0xA001
    return crc
