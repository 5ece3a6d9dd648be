"""Property tests for SL 651: element round trips; random bytes only ever give counted rejections."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.hj212.framing import Garbage
from adapters.sl651 import FrameReader, Sl651Frame, Sl651Settings, encode_frame, parse_message, to_readings
from adapters.sl651.framing import MAX_FRAME
from adapters.sl651.message import ELEMENTS, STATUS
from gateway.model import Rejected

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATION = bytes.fromhex("0011223344")
LEADERS = sorted(k for k in ELEMENTS if k != STATUS)


@st.composite
def elements(draw: st.DrawFn) -> dict[int, tuple[int, int, int]]:
    """Leader -> (size in bytes, decimals, unsigned integer value that fits)."""
    chosen = draw(st.lists(st.sampled_from(LEADERS), min_size=1, max_size=6, unique=True))
    out = {}
    for leader in chosen:
        size = draw(st.integers(min_value=1, max_value=5))
        decimals = draw(st.integers(min_value=0, max_value=3))
        out[leader] = (size, decimals, draw(st.integers(min_value=0, max_value=10 ** (2 * size) - 1)))
    return out


def encode_elements(data: dict[int, tuple[int, int, int]]) -> bytes:
    """Elements as identifier, definition byte and BCD data."""
    return b"".join(bytes([leader, size << 3 | dec]) + bytes.fromhex(str(value).zfill(2 * size))
                    for leader, (size, dec, value) in data.items())


def frame_of(body_elements: bytes, function: int = 0x32) -> bytes:
    """An uplink report frame."""
    body = (b"\x00\x01" + bytes.fromhex("240501120005") + b"\xf1\xf1" + STATION + b"H" + b"\xf0\xf0"
            + bytes.fromhex("2405011200") + body_elements)
    return encode_frame(centre=1, station=STATION, password=0, function=function, body=body, end=0x03)


@FAST
@given(elements(), st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=20))
def test_element_round_trip_in_any_chunking(data: dict[int, tuple[int, int, int]], sizes: list[int]) -> None:
    raw = frame_of(encode_elements(data))
    reader, items, pos, i = FrameReader(), [], 0, 0
    while pos < len(raw):
        items += reader.feed(raw[pos : pos + sizes[i % len(sizes)]])
        pos, i = pos + sizes[i % len(sizes)], i + 1
    (frame,) = items
    assert isinstance(frame, Sl651Frame)
    message = parse_message(frame)
    expected = {ELEMENTS[k][1]: v / 10**d for k, (_, d, v) in data.items()}
    assert message.values == expected
    assert to_readings(message, Sl651Settings())[0].fields["alarm"] is False


@FAST
@given(st.binary(max_size=3000))
def test_random_bytes_only_give_frames_or_garbage(data: bytes) -> None:
    reader = FrameReader()
    items = reader.feed(data)
    assert reader.buffered <= MAX_FRAME
    items += reader.flush()
    assert all(isinstance(i, Sl651Frame | Garbage) for i in items)


@FAST
@given(st.binary(max_size=300).filter(lambda b: b"\x7e" not in b), st.binary(max_size=300), elements())
def test_frame_after_garbage_recovered(before: bytes, after: bytes, data: dict[int, tuple[int, int, int]]) -> None:
    raw = frame_of(encode_elements(data))
    items = FrameReader().feed(before + raw + after)
    assert any(isinstance(i, Sl651Frame) and i.raw == raw for i in items)


@FAST
@given(st.binary(max_size=200), st.sampled_from([0x2F, 0x30, 0x32, 0x33, 0x34, 0x51]))
def test_random_bodies_raise_only_rejected(tail: bytes, function: int) -> None:
    for body in (tail, b"\x00\x01" + bytes.fromhex("240501120005") + tail):
        if len(body) < 8:
            continue
        raw = encode_frame(centre=1, station=STATION, password=0, function=function, body=body, end=0x03)
        for item in FrameReader().feed(raw):
            if isinstance(item, Sl651Frame):
                with contextlib.suppress(Rejected):
                    to_readings(parse_message(item), Sl651Settings())
