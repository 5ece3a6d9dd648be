"""SL 651-2014 HEX/BCD frames (§6.2, Tables 20 and 21), built and read incrementally from a byte stream.

Uplink:   7E7E | centre 1 | station 5 | password 2 | function 1 | direction+length 2 | STX | body | ETX/ETB | CRC 2
Downlink: 7E7E | station 5 | centre 1 | password 2 | function 1 | direction+length 2 | STX | body | end | CRC 2
With SYN instead of STX (M3 multi-packet), 3 bytes of 12-bit total and 12-bit sequence follow it; the
length counts every byte between the start and end characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from adapters.hj212.framing import SAMPLE_BYTES, Garbage
from adapters.sl651.crc import sl651_crc
from gateway.model import RejectReason

START: Final = b"\x7e\x7e"
STX: Final = 0x02
SYN: Final = 0x16
ETX: Final = 0x03
ETB: Final = 0x17
ENQ: Final = 0x05
EOT: Final = 0x04
ACK: Final = 0x06
NAK: Final = 0x15
ESC: Final = 0x1B
UP_ENDS: Final = frozenset({ETX, ETB})
DOWN_ENDS: Final = frozenset({ENQ, ACK, NAK, EOT, ESC, ETX})
HEADER_LEN: Final = 14
"""Bytes up to and including the start character."""
MAX_BODY: Final = 4095
MAX_FRAME: Final = HEADER_LEN + MAX_BODY + 3


@dataclass(frozen=True, slots=True)
class Sl651Frame:
    """One frame whose CRC matched."""

    raw: bytes
    centre: int
    station: bytes
    password: int
    function: int
    up: bool
    body: bytes
    end: int
    packets: tuple[int, int] | None = None
    """(total, sequence) of an M3 multi-packet frame (SYN start), else None."""

    @property
    def station_hex(self) -> str:
        """The station address as 10 upper-case hex digits (the device id before registry lookup)."""
        return self.station.hex().upper()


def encode_frame(*, centre: int, station: bytes, password: int, function: int, body: bytes, end: int,
                 up: bool = True) -> bytes:
    """Build a single-packet frame (STX start) with its CRC."""
    if len(station) != 5 or not 0 <= centre <= 255 or not 0 <= password <= 0xFFFF or len(body) > MAX_BODY:
        raise ValueError("station is 5 bytes, centre 0..255, password 0..65535, body at most 4095 bytes")
    address = bytes([centre]) + station if up else station + bytes([centre])
    word = (0 if up else 0x8000) | len(body)
    head = START + address + password.to_bytes(2, "big") + bytes([function]) + word.to_bytes(2, "big")
    frame = head + bytes([STX]) + body + bytes([end])
    return frame + sl651_crc(frame).to_bytes(2, "big")


def _bcd_ok(data: bytes) -> bool:
    """Whether every nibble is a decimal digit."""
    return all((b >> 4) < 10 and (b & 15) < 10 for b in data)


class FrameReader:
    """Incremental SL 651 frame reader: `feed(bytes)` returns completed frames and garbage, in order."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._garbage = 0
        self._sample = bytearray()
        self._quiet = 0

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame (at most one maximal frame)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Sl651Frame | Garbage]:
        """Take bytes; return every frame or garbage entry they complete."""
        self._buf += data
        out: list[Sl651Frame | Garbage] = []
        while self._step(out):
            pass
        return out

    def flush(self) -> list[Sl651Frame | Garbage]:
        """At end of stream, report what is left as garbage."""
        out: list[Sl651Frame | Garbage] = []
        self._skip(len(self._buf), out)
        self._end_run(out)
        return out

    def _step(self, out: list[Sl651Frame | Garbage]) -> bool:
        """Consume one frame or some garbage; False when more bytes are needed."""
        buf = self._buf
        at = buf.find(START)
        if at < 0:
            keep = 1 if buf.endswith(b"\x7e") else 0
            self._skip(len(buf) - keep, out)
            return False
        if at:
            self._skip(at, out)
            return True
        if len(buf) < HEADER_LEN:
            return False
        length = self._plausible_length()
        if length is None:
            self._skip(1, out)
            return True
        total = HEADER_LEN + length + 3
        if len(buf) < total:
            return False
        self._take(total, out)
        return True

    def _plausible_length(self) -> int | None:
        """The body length of the header at the buffer's start, or None when it cannot start a frame."""
        buf = self._buf
        word = int.from_bytes(buf[11:13], "big")
        direction, length = word >> 12, word & 0x0FFF
        if direction not in {0, 8} or buf[13] not in {STX, SYN} or length < 8:
            return None
        offset = HEADER_LEN + (3 if buf[13] == SYN else 0) + 2
        time_bytes = bytes(buf[offset : offset + 6])
        if not _bcd_ok(time_bytes):
            return None
        return length

    def _take(self, total: int, out: list[Sl651Frame | Garbage]) -> None:
        """Check a delimited frame's end character and CRC; emit it or a rejection."""
        buf = self._buf
        raw = bytes(buf[:total])
        up = raw[11] >> 4 == 0
        ends = UP_ENDS if up else DOWN_ENDS
        if raw[-3] not in ends:
            self._reject(RejectReason.MALFORMED, f"end character 0x{raw[-3]:02X} is not valid here", raw, out)
            return
        expected = sl651_crc(raw[:-2])
        if int.from_bytes(raw[-2:], "big") != expected:
            got = raw[-2:].hex().upper()
            self._reject(RejectReason.BAD_CRC, f"CRC {got} does not match the frame's {expected:04X}", raw, out)
            self._quiet = total - 2
            return
        del buf[:total]
        self._end_run(out)
        self._quiet = 0
        out.append(_frame(raw, up))

    def _reject(self, reason: RejectReason, detail: str, raw: bytes, out: list[Sl651Frame | Garbage]) -> None:
        """Report a bad frame and resynchronise after its start bytes."""
        self._end_run(out)
        out.append(Garbage(reason, detail, raw[:SAMPLE_BYTES], len(raw)))
        del self._buf[:2]

    def _skip(self, count: int, out: list[Sl651Frame | Garbage]) -> None:
        """Drop leading bytes into the garbage run (bytes of a frame already rejected are not counted again)."""
        if count <= 0:
            return
        quiet = min(self._quiet, count)
        self._quiet -= quiet
        counted = memoryview(self._buf)[quiet:count]
        room = SAMPLE_BYTES - len(self._sample)
        if room > 0:
            self._sample += counted[:room]
        self._garbage += len(counted)
        counted.release()
        del self._buf[:count]
        if self._garbage >= MAX_FRAME:
            self._end_run(out)

    def _end_run(self, out: list[Sl651Frame | Garbage]) -> None:
        """Report the current garbage run, if any."""
        if self._garbage:
            detail = f"{self._garbage} bytes that are not an SL 651 frame"
            out.append(Garbage(RejectReason.MALFORMED, detail, bytes(self._sample), self._garbage))
        self._garbage = 0
        self._sample = bytearray()


def _frame(raw: bytes, up: bool) -> Sl651Frame:
    """Split a checked frame into its fields."""
    centre, station = (raw[2], raw[3:8]) if up else (raw[7], raw[2:7])
    syn = raw[13] == SYN
    packets = None
    start = HEADER_LEN
    if syn:
        word = int.from_bytes(raw[14:17], "big")
        packets = (word >> 12, word & 0x0FFF)
        start += 3
    return Sl651Frame(raw=raw, centre=centre, station=bytes(station), password=int.from_bytes(raw[8:10], "big"),
                      function=raw[10], up=up, body=raw[start:-3], end=raw[-3], packets=packets)
