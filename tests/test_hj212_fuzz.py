"""Property tests for HJ 212: encode -> decode round trips; random bytes only ever give counted rejections."""

from __future__ import annotations

import contextlib
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.hj212 import (
    Frame,
    FrameReader,
    Garbage,
    ReadingSettings,
    decode_payload,
    encode_packet,
    hj212_crc,
    parse_segment,
    to_readings,
)
from adapters.hj212.crc import hj212_crc_slow
from gateway.model import Rejected

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
mns = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=1, max_size=24)
values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda v: round(v, 3))
factors = st.dictionaries(st.sampled_from(["a34001", "a34002", "a34004", "a34005", "a01001", "LA", "w01001"]),
                          values, min_size=1, max_size=7)
flags = st.sampled_from(["N", "F", "M", "S", "D", "C", "T", "B"])
chunks = st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=50)


def segment(mn: str, data: dict[str, float], flag: str, ack: bool) -> str:
    """A standard 2011 upload segment."""
    cp = ";".join(f"{k}-Rtd={v},{k}-Flag={flag}" for k, v in data.items())
    return f"QN=20240501120000123;ST=39;CN=2011;PW=123456;MN={mn};Flag={5 if ack else 4};" \
           f"CP=&&DataTime=20240501120000;{cp}&&"


def feed_in_chunks(reader: FrameReader, data: bytes, sizes: list[int]) -> list[Frame | Garbage]:
    """Feed `data` cut at the given sizes (cycled)."""
    out: list[Frame | Garbage] = []
    pos, i = 0, 0
    while pos < len(data):
        step = sizes[i % len(sizes)]
        out += reader.feed(data[pos : pos + step])
        pos, i = pos + step, i + 1
    return out


@FAST
@given(st.binary(max_size=300))
def test_table_crc_equals_reference(data: bytes) -> None:
    assert hj212_crc(data) == hj212_crc_slow(data)


@FAST
@given(mns, factors, flags, st.booleans(), chunks)
def test_round_trip_through_reader_parser_and_readings(mn: str, data: dict[str, float], flag: str, ack: bool,
                                                       sizes: list[int]) -> None:
    text = segment(mn, data, flag, ack)
    frames = feed_in_chunks(FrameReader(), encode_packet(text) * 2, sizes)
    assert len(frames) == 2 and all(isinstance(f, Frame) for f in frames)
    frame = frames[0]
    assert isinstance(frame, Frame)
    packet = parse_segment(frame.segment)
    assert (packet.mn, packet.ack_requested, packet.anomalies) == (mn, ack, [])
    assert {k: v["Rtd"] for k, v in packet.factors.items()} == data
    (reading,) = to_readings(packet, ReadingSettings(), now_ns=0)
    assert reading.fields["maintenance"] == (flag in {"M", "C"})
    assert reading.fields["data_flag"] == flag


@FAST
@given(st.binary(max_size=2000), chunks)
def test_random_bytes_only_give_frames_or_garbage_and_stay_bounded(data: bytes, sizes: list[int]) -> None:
    reader = FrameReader(max_segment=512)
    items = feed_in_chunks(reader, data, sizes)
    assert reader.buffered <= 6 + 512 + 8
    items += reader.flush()
    assert all(isinstance(i, Frame | Garbage) for i in items)


@FAST
@given(st.binary(max_size=400).filter(lambda b: b"##" not in b), st.binary(max_size=400), mns, factors, chunks)
def test_frame_after_garbage_is_always_recovered(before: bytes, after: bytes, mn: str, data: dict[str, float],
                                                 sizes: list[int]) -> None:
    frame = encode_packet(segment(mn, data, "N", True))
    before = before.rstrip(b"#")
    items = feed_in_chunks(FrameReader(), before + frame + after, sizes)
    assert any(isinstance(i, Frame) and i.segment == frame[6:-6] for i in items)


alphabet = st.sampled_from(list("QNSTCPWMFlag=;,&-0123456789.abcdefRtdAvg#\\r\n"))


@FAST
@given(st.one_of(st.binary(max_size=300), st.text(alphabet=alphabet, max_size=300).map(str.encode)))
def test_decode_payload_raises_only_rejected(data: bytes) -> None:
    for candidate in (data, b"##%04d" % len(data) + data + b"%04X\r\n" % hj212_crc(data)):
        with contextlib.suppress(Rejected):
            decode_payload(candidate, now_ns=time.time_ns())


@FAST
@given(st.text(alphabet=alphabet, max_size=300))
def test_parse_segment_raises_only_rejected(text: str) -> None:
    try:
        packet = parse_segment(text)
        to_readings(packet, ReadingSettings(), now_ns=0)
    except Rejected:
        pass
