"""HJ 212 framing (Table 2): `##` + 4-digit length + data segment + 4-hex CRC + CRLF, read incrementally.

The reader resynchronises on `##` after garbage, joins frames split across reads, splits several frames in
one read, and never holds more than one maximal frame: bytes that cannot start a frame are dropped at once
and reported as garbage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from adapters.hj212.crc import hj212_crc
from gateway.model import Rejected, RejectReason

HEADER: Final = b"##"
TAIL: Final = b"\r\n"
LITERAL_TAIL: Final = b"\\r\\n"
"""Some devices send the four characters backslash-r-backslash-n instead of CR LF (§1.9)."""
MAX_LENGTH_FIELD: Final = 9999
SAMPLE_BYTES: Final = 256
"""How much of a bad input a rejection keeps (the dead-letter store is bounded)."""

_HEX: Final = frozenset(b"0123456789ABCDEFabcdef")
_CRC_TAIL: Final = re.compile(rb"([0-9A-Fa-f]{4})(?:\r\n|\\r\\n)")


@dataclass(frozen=True, slots=True)
class Frame:
    """One framed packet whose CRC matched: its data segment, the raw bytes and what was odd about it."""

    segment: bytes
    raw: bytes
    anomalies: tuple[str, ...] = ()

    @property
    def wire(self) -> bytes:
        """The packet as the device sent it, with a CRLF tail when it came without one (for relaying)."""
        return self.raw if self.raw.endswith((TAIL, LITERAL_TAIL)) else self.raw + TAIL


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes that are not a good frame: the reason (counted), a detail, a bounded sample and the byte count."""

    reason: RejectReason
    detail: str
    sample: bytes
    size: int = 0

    def rejected(self) -> Rejected:
        """The same problem as a `Rejected` (to raise where one packet was expected)."""
        return Rejected(self.reason, self.detail)


@dataclass(slots=True)
class _Run:
    """A run of consecutive garbage bytes, reported once when it ends (or reaches the frame limit)."""

    size: int = 0
    sample: bytearray = field(default_factory=bytearray)

    def add(self, data: bytes | memoryview) -> None:
        """Count `data` and keep the start of the run as a sample."""
        room = SAMPLE_BYTES - len(self.sample)
        if room > 0:
            self.sample += data[:room]
        self.size += len(data)


def encode_packet(segment: str | bytes) -> bytes:
    """Frame a data segment: header, length, segment, CRC (upper-case hex) and CRLF."""
    body = segment.encode("utf-8") if isinstance(segment, str) else segment
    if len(body) > MAX_LENGTH_FIELD:
        raise ValueError(f"data segment is {len(body)} bytes; HJ 212 allows at most {MAX_LENGTH_FIELD}")
    return b"##%04d%s%04X\r\n" % (len(body), body, hj212_crc(body))


class FrameReader:
    """Incremental HJ 212 frame reader: `feed(bytes)` returns the frames and garbage completed so far."""

    def __init__(self, max_segment: int = 4096) -> None:
        if not 0 < max_segment <= MAX_LENGTH_FIELD:
            raise ValueError(f"max_segment must be 1..{MAX_LENGTH_FIELD}, got {max_segment}")
        self.max_segment = max_segment
        self._buf = bytearray()
        self._run = _Run()

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame (bounded by one maximal frame)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | Garbage]:
        """Take bytes from the stream; return every frame or garbage run they complete, in order."""
        self._buf += data
        out: list[Frame | Garbage] = []
        while self._step(out):
            pass
        return out

    def flush(self) -> list[Frame | Garbage]:
        """At end of stream: what is left is a truncated frame or garbage; report it."""
        out: list[Frame | Garbage] = []
        if self._buf:
            self._skip(len(self._buf), out)
        self._end_run(out)
        return out

    def _step(self, out: list[Frame | Garbage]) -> bool:
        """Consume one frame or one stretch of garbage from the buffer; False when more bytes are needed."""
        buf = self._buf
        start = buf.find(HEADER)
        if start < 0:
            keep = 1 if buf.endswith(b"#") else 0
            if len(buf) > keep:
                self._skip(len(buf) - keep, out)
            return False
        if start:
            self._skip(start, out)
            return True
        if len(buf) < 6:
            return False
        digits = bytes(buf[2:6])
        if not digits.isdigit():
            self._skip(1, out)
            return True
        length = int(digits)
        if length > self.max_segment:
            self._end_run(out)
            out.append(Garbage(RejectReason.OVERSIZE, f"length field {length} exceeds max_segment {self.max_segment}",
                               bytes(buf[:SAMPLE_BYTES]), 6))
            del buf[:2]
            return True
        return self._take(length, out)

    def _take(self, length: int, out: list[Frame | Garbage]) -> bool:
        """Take the frame whose header starts the buffer; False while its bytes are still arriving."""
        buf = self._buf
        end = 6 + length + 4
        if len(buf) < end:
            return self._incomplete(length, out)
        segment, crc_text = bytes(buf[6 : end - 4]), bytes(buf[end - 4 : end])
        tail = _tail_at(buf, end)
        if _HEX.issuperset(crc_text) and int(crc_text, 16) == hj212_crc(segment):
            notes: tuple[str, ...] = ()
            if tail is None and len(buf) >= end + 2 and not _is_filler(bytes(buf[end : end + 2])):
                notes = ("no CRLF tail",)
            size = end + (tail or 0)
            raw = bytes(buf[:size])
            del buf[:size]
            self._end_run(out)
            out.append(_checked(segment, crc_text, raw, notes))
            return True
        if tail is not None:
            self._emit(segment, crc_text, end + tail, out, ())
            return True
        if len(buf) < end + 2:
            return False
        return self._search(length, out) or self._resync(length, out)

    def _incomplete(self, length: int, out: list[Frame | Garbage]) -> bool:
        """Before the declared end: take a CRC-proven shorter frame (a lying length field), else wait."""
        buf = self._buf
        if (buf.find(TAIL, 6) > 0 or buf.find(LITERAL_TAIL, 6) > 0) and self._search(length, out):
            return True
        return len(buf) >= self._limit and self._resync(length, out)

    @property
    def _limit(self) -> int:
        """The most bytes one frame may take: header, longest segment, CRC and a literal tail."""
        return 6 + self.max_segment + 8

    def _search(self, length: int, out: list[Frame | Garbage]) -> bool:
        """Find a CRC-proven end when the length field lies (a device deviation); True when one was taken."""
        window = bytes(self._buf[6 : self._limit])
        for match in _CRC_TAIL.finditer(window):
            segment = window[: match.start()]
            if HEADER in segment:
                return False
            if hj212_crc(segment) == int(match.group(1), 16):
                note = f"length field says {length}, segment is {len(segment)} bytes"
                self._emit(segment, match.group(1), 6 + match.end(), out, (note,))
                return True
        return False

    def _resync(self, length: int, out: list[Frame | Garbage]) -> bool:
        """Report a header whose frame does not hold together, and look for the next `##` after it."""
        self._end_run(out)
        out.append(Garbage(RejectReason.MALFORMED, f"no CRC and CRLF after the {length}-byte segment; "
                           "resynchronising on the next '##'", bytes(self._buf[:SAMPLE_BYTES]), 2))
        del self._buf[:2]
        return True

    def _emit(self, segment: bytes, crc_text: bytes, size: int, out: list[Frame | Garbage],
              anomalies: tuple[str, ...]) -> None:
        """Emit a delimited frame (or its BAD_CRC rejection) and drop its bytes from the buffer."""
        raw = bytes(self._buf[:size])
        del self._buf[:size]
        self._end_run(out)
        out.append(check_frame(segment, crc_text, raw, anomalies))

    def _skip(self, count: int, out: list[Frame | Garbage]) -> None:
        """Drop `count` leading bytes into the current garbage run (line endings between frames are free)."""
        chunk = memoryview(self._buf)[:count]
        if not (self._run.size == 0 and _is_filler(bytes(chunk))):
            self._run.add(chunk)
        chunk.release()
        del self._buf[:count]
        if self._run.size >= self._limit:
            self._end_run(out)

    def _end_run(self, out: list[Frame | Garbage]) -> None:
        """Report the current garbage run, if any, and start a new one."""
        run = self._run
        if run.size:
            detail = f"{run.size} bytes that are not an HJ 212 frame"
            out.append(Garbage(RejectReason.MALFORMED, detail, bytes(run.sample), run.size))
            self._run = _Run()


def _is_filler(data: bytes) -> bool:
    """Whether `data` is only line endings (real or literal), which devices put between frames."""
    return not data.replace(b"\\r", b"").replace(b"\\n", b"").strip(b"\r\n")


def _tail_at(buf: bytearray, pos: int) -> int | None:
    """Length of the packet tail at `pos` (CRLF, or literal backslash-r-n), or None when there is none."""
    if buf[pos : pos + 2] == TAIL:
        return 2
    if buf[pos : pos + 4] == LITERAL_TAIL:
        return 4
    return None


def check_frame(segment: bytes, crc_text: bytes, raw: bytes, anomalies: tuple[str, ...] = ()) -> Frame | Garbage:
    """A frame when `crc_text` is 4 hex digits matching the segment's CRC, else a counted garbage entry."""
    if len(crc_text) != 4 or not _HEX.issuperset(crc_text):
        return Garbage(RejectReason.MALFORMED, f"CRC field {crc_text[:8]!r} is not 4 hex digits",
                       raw[:SAMPLE_BYTES], len(raw))
    expected = hj212_crc(segment)
    if int(crc_text, 16) != expected:
        return Garbage(RejectReason.BAD_CRC, f"CRC {crc_text.decode()} does not match the segment's {expected:04X}",
                       raw[:SAMPLE_BYTES], len(raw))
    return _checked(segment, crc_text, raw, anomalies)


def _checked(segment: bytes, crc_text: bytes, raw: bytes, anomalies: tuple[str, ...]) -> Frame:
    """A frame whose CRC was verified, with notes on its tail and CRC case."""
    notes = anomalies
    if raw.endswith(LITERAL_TAIL):
        notes += ("literal backslash-r-n tail",)
    if not crc_text.isupper() and not crc_text.isdigit():
        notes += ("lower-case CRC",)
    return Frame(segment, raw, notes)


def split_packet(data: bytes) -> Frame:
    """Exactly one packet given whole (an MQTT payload): its frame, or `Rejected`; the tail may be missing."""
    text = data.strip(b" \t\r\n\x00")
    if text.endswith(LITERAL_TAIL):
        text = text[:-4]
    if not text.startswith(HEADER) or len(text) < 10 or not text[2:6].isdigit():
        raise Rejected(RejectReason.MALFORMED, f"not an HJ 212 packet: {data[:40]!r}")
    length = int(text[2:6])
    segment, crc_text = text[6:-4], text[-4:]
    notes: tuple[str, ...] = ()
    if len(segment) != length:
        notes = (f"length field says {length}, segment is {len(segment)} bytes",)
    item = check_frame(segment, crc_text, data, notes)
    if isinstance(item, Garbage):
        raise item.rejected()
    return item
