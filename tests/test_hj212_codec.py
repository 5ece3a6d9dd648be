"""HJ 212 codec: CRC vectors, framing and resync, lenient parsing, readings, replies, real packets."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.hj212 import (
    ExeRtn,
    Frame,
    FrameReader,
    Garbage,
    Hj212Codec,
    QnRtn,
    ReadingSettings,
    data_ack,
    decode_packet,
    decode_payload,
    encode_packet,
    execution_result,
    hj212_crc,
    parse_segment,
    request_answer,
    to_readings,
)
from adapters.hj212.crc import hj212_crc_slow
from gateway.model import Rejected, RejectReason

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "payloads"

STANDARD = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
STANDARD_FRAME = b"##0101" + STANDARD + b"1C80\r\n"
DUST = (
    "QN=20240501120000123;ST=39;CN=2011;PW=123456;MN=DUST0001;Flag=5;CP=&&DataTime=20240501120000;"
    "a34002-Rtd=62.7,a34002-Flag=N;a34004-Rtd=45.0,a34004-Flag=N;LA-Rtd=55.2,LA-Flag=N&&"
)


class Unit:
    """A registry-like device for the unit tests."""

    def __init__(self, device_id: str, units: dict[str, str]) -> None:
        self.id = device_id
        self.units = units


def test_crc_standard_example_is_1c80_not_modbus() -> None:
    assert hj212_crc(STANDARD) == 0x1C80
    assert hj212_crc_slow(STANDARD) == 0x1C80


@pytest.mark.parametrize("size", range(40))
def test_table_crc_matches_reference_algorithm(size: int) -> None:
    data = bytes((i * 37 + size) & 0xFF for i in range(size))
    assert hj212_crc(data) == hj212_crc_slow(data)


VECTORS = [
    (STANDARD, 0x1C80),
    (b"ST=32;CN=2011;PW=123456;MN=0873HHMZWSLH02;CP=&&DataTime=20160103133030;060-Rtd=3.0943,060-Flag=N;"
     b"011-Rtd=18.0412,011-Flag=N;001-Rtd=8.2137,001-Flag=N;B01-Rtd=10.9890,B01-Flag=N&&", 0xA9C1),
    (b"ST=32;CN=2011;PW=123456;MN=NJGDKYYC202101q0001w0001;CP=&&DataTime=20210305003817000;"
     b"ele01-Rtd=1;ele02-Rtd=0&&", 0x8C41),
]
"""The reference's vectors (domain-standards.md §1.7); the 7D00 one is the alltobs packet read below."""


@pytest.mark.parametrize(("segment", "crc"), VECTORS)
def test_reference_vectors(segment: bytes, crc: int) -> None:
    assert hj212_crc(segment) == crc
    assert hj212_crc_slow(segment) == crc
    packet = decode_packet(b"##%04d" % len(segment) + segment + b"%04x" % crc)
    assert packet.mn
    assert ("lower-case CRC" in packet.anomalies) == (not (b"%04x" % crc).isdigit())


def test_8c41_literal_tail_packet_as_published() -> None:
    segment = VECTORS[2][0]
    line = b"##0109" + segment + b"8c41\\r\\n"
    (reading,) = decode_payload(line, now_ns=1)
    assert reading.fields["ele01"] == 1.0 and reading.fields["ele02"] == 0.0
    assert reading.ts_ns == 1614875897 * 10**9  # 17-digit DataTime with milliseconds, Beijing time


def test_alltobs_vector_7d00() -> None:
    path = SHARED / "hj212_alltobs-hj212_README.txt"
    if not path.exists():
        pytest.skip("../shared/data is absent")
    line = path.read_bytes().splitlines()[0]
    assert line.endswith(b"7d00")
    assert hj212_crc(line[6:-4]) == 0x7D00
    packet = decode_packet(line)
    assert packet.mn == "ZLDSZ20210127"
    assert "lower-case CRC" in packet.anomalies


def test_real_packets_three_bad_crcs_rejected_as_such() -> None:
    lines = (DATA / "hj212_guocay_hj212-protocol_ApplicationTest.txt").read_bytes().splitlines()
    outcomes: list[str] = []
    for line in lines:
        try:
            decode_packet(line)
            outcomes.append("ok")
        except Rejected as exc:
            outcomes.append(exc.reason.value)
    assert outcomes == ["ok", "bad_crc", "bad_crc", "ok", "ok", "bad_crc"]


def test_real_hourly_packet_icecoffee() -> None:
    line = (DATA / "hj212_IceCoffee.HJ212_README.txt").read_bytes().strip()
    packet = decode_packet(line)
    assert (packet.st, packet.cn, packet.flag, packet.ack_requested) == ("22", "2061", 5, True)
    assert packet.factors["a34006"] == {"Avg": 2.697, "Flag": "N"}
    (reading,) = to_readings(packet, ReadingSettings(), now_ns=0)
    assert reading.ts_ns == 1569333600 * 10**9  # 2019-09-24 22:00 Beijing = 14:00 UTC, the hour's start
    assert reading.fields["a34006_avg"] == 2.697


def test_encode_frames_with_length_crc_and_crlf() -> None:
    assert encode_packet(STANDARD.decode()) == STANDARD_FRAME
    with pytest.raises(ValueError, match="at most 9999"):
        encode_packet(b"x" * 10000)


def test_reader_splits_reads_and_joins_several_frames() -> None:
    stream = STANDARD_FRAME + encode_packet(DUST) + STANDARD_FRAME
    reader = FrameReader()
    items: list[Frame | Garbage] = []
    for i in range(len(stream)):
        items += reader.feed(stream[i : i + 1])
    assert [type(i) for i in items] == [Frame, Frame, Frame]
    whole = FrameReader().feed(stream)
    assert [f.segment for f in whole if isinstance(f, Frame)] == [f.segment for f in items if isinstance(f, Frame)]


def test_reader_resyncs_after_garbage_and_counts_it_once() -> None:
    reader = FrameReader()
    items = reader.feed(b"AT+OK\r\n###junk##12" + STANDARD_FRAME + b"\r\n" + STANDARD_FRAME)
    kinds = [(type(i).__name__, getattr(i, "reason", None)) for i in items]
    assert kinds == [("Garbage", RejectReason.MALFORMED), ("Frame", None), ("Frame", None)]
    assert isinstance(items[0], Garbage)
    assert items[0].size == len(b"AT+OK\r\n###junk##12")


def test_reader_bad_crc_consumes_frame_and_keeps_going() -> None:
    bad = STANDARD_FRAME.replace(b"1C80", b"1C81")
    items = FrameReader().feed(bad + STANDARD_FRAME)
    assert isinstance(items[0], Garbage) and items[0].reason is RejectReason.BAD_CRC
    assert isinstance(items[1], Frame)
    assert len(items) == 2


def test_reader_tolerates_lowercase_crc_literal_tail_and_missing_tail() -> None:
    frame = encode_packet(DUST)
    crc = frame[-6:-2]
    lower = frame[:-6] + crc.lower() + b"\\r\\n"
    no_tail = frame[:-2]
    items = FrameReader().feed(lower + no_tail + STANDARD_FRAME)
    assert [type(i) for i in items] == [Frame, Frame, Frame]
    assert isinstance(items[0], Frame) and "literal backslash-r-n tail" in items[0].anomalies
    assert isinstance(items[1], Frame) and "no CRLF tail" in items[1].anomalies


def test_reader_finds_crc_proven_end_when_length_field_lies() -> None:
    wrong = b"##0120" + STANDARD + b"1C80\r\n"
    items = FrameReader().feed(wrong)
    assert len(items) == 1 and isinstance(items[0], Frame)
    assert items[0].segment == STANDARD
    assert any("length field says 120" in a for a in items[0].anomalies)


def test_reader_oversize_length_rejected() -> None:
    items = FrameReader(max_segment=200).feed(b"##0500" + b"x" * 10 + STANDARD_FRAME)
    reasons = [i.reason for i in items if isinstance(i, Garbage)]
    assert RejectReason.OVERSIZE in reasons
    assert isinstance(items[-1], Frame)


def test_ten_megabytes_without_header_stays_bounded() -> None:
    reader = FrameReader()
    chunk = b"x" * 65536
    reported = 0
    for _ in range(160):
        for item in reader.feed(chunk):
            assert isinstance(item, Garbage)
            reported += item.size
            assert len(item.sample) <= 256
        assert reader.buffered <= 1
    reported += sum(i.size for i in reader.flush() if isinstance(i, Garbage))
    assert reported == 160 * 65536


def test_parse_segment_fields_and_flag_bits() -> None:
    packet = parse_segment(DUST)
    assert (packet.qn, packet.st, packet.cn, packet.pw, packet.mn) == (
        "20240501120000123", "39", "2011", "123456", "DUST0001")
    assert (packet.flag, packet.version, packet.ack_requested, packet.split) == (5, 1, True, False)
    assert packet.factors["a34002"] == {"Rtd": 62.7, "Flag": "N"}
    assert packet.data_time == "20240501120000"
    assert packet.anomalies == []


def test_parse_split_packet_numbers() -> None:
    packet = parse_segment("QN=20160801085857223;ST=32;CN=2011;PW=1;MN=M;Flag=7;PNUM=2;PNO=1;CP=&&&&")
    assert (packet.split, packet.ack_requested, packet.pnum, packet.pno) == (True, True, 2, 1)


def test_lenient_2005_style_semicolons_and_typos() -> None:
    text = "ST=39;CN=2011;PW=123456;MN=0873HHMZWSLH02;CP=&&DataTime=20160103133030;a34004-Rtd=45.0;" \
           "a34002-Rtd=62.7;LA-Rtd-Rtd=71.0;Flag=N&&"
    packet = parse_segment(text)
    assert packet.qn is None and packet.flag is None and not packet.ack_requested
    assert packet.factors["LA"] == {"Rtd": 71.0}
    notes = " | ".join(packet.anomalies)
    assert "no QN" in notes and "no Flag" in notes and "Rtd-Rtd" in notes and "CP-level Flag" in notes
    (reading,) = to_readings(packet, ReadingSettings(), now_ns=1)
    assert reading.fields["noise_la"] == 71.0
    assert reading.fields["data_flag"] == "N"


def test_la_td_typo_read_as_rtd() -> None:
    packet = parse_segment("ST=23;CN=2011;MN=N1;CP=&&DataTime=20160801085857;LA-td=50.1&&")
    assert packet.factors["LA"] == {"Rtd": 50.1}
    (reading,) = to_readings(packet, ReadingSettings(), now_ns=1)
    assert reading.kind == "noise" and reading.fields["noise_la"] == 50.1


def test_missing_mn_or_cn_rejected() -> None:
    with pytest.raises(Rejected) as exc:
        parse_segment("QN=1;ST=39;CN=2011;CP=&&&&")
    assert exc.value.reason is RejectReason.MALFORMED
    with pytest.raises(Rejected):
        parse_segment("ST=39;MN=X;CP=&&&&")


def test_non_numeric_values_noted_and_not_fields() -> None:
    packet = parse_segment("ST=39;CN=2011;MN=X;CP=&&DataTime=20240501120000;a34002-Rtd=abc;a34004-Rtd=nan&&")
    assert any("a34002-Rtd='abc' is not a finite number" in a for a in packet.anomalies)
    assert any("a34004-Rtd='nan' is not a finite number" in a for a in packet.anomalies)
    with pytest.raises(Rejected) as exc:
        to_readings(packet, ReadingSettings(), now_ns=1)
    assert exc.value.reason is RejectReason.NO_FIELDS


def test_readings_names_units_kind_and_time() -> None:
    (reading,) = to_readings(parse_segment(DUST), ReadingSettings(), now_ns=1)
    assert reading.device == "DUST0001" and reading.kind == "dust"
    assert reading.fields["pm10"] == 62.7 and reading.fields["pm25"] == 45.0 and reading.fields["noise_la"] == 55.2
    assert reading.fields["pm10_flag"] == "N" and reading.fields["maintenance"] is False
    assert reading.ts_ns == 1714536000 * 10**9  # 12:00 Beijing = 04:00 UTC
    assert reading.tags == {"cn": "2011"}
    utc = ReadingSettings(timezone="UTC")
    (in_utc,) = to_readings(parse_segment(DUST), utc, now_ns=1)
    assert in_utc.ts_ns - reading.ts_ns == 8 * 3600 * 10**9


@pytest.mark.parametrize(("unit", "pm10"), [("ng/m3", 62.7), ("ug/m3", 62700.0), ("mg/m3", 62700000.0)])
def test_particulate_units_per_device(unit: str, pm10: float) -> None:
    text = DUST.replace("a34002-Rtd=62.7", "a34002-Rtd=62700")
    (reading,) = to_readings(parse_segment(text), ReadingSettings(), now_ns=1, device=Unit("dust-0001", {"pm10": unit}))
    assert reading.device == "dust-0001"
    assert reading.fields["pm10"] == pytest.approx(pm10)
    assert reading.fields["noise_la"] == 55.2  # not a particulate: never scaled


def test_unknown_device_unit_is_a_counted_rejection() -> None:
    with pytest.raises(Rejected) as exc:
        to_readings(parse_segment(DUST), ReadingSettings(), now_ns=1, device=Unit("d", {"particulates": "g/l"}))
    assert exc.value.reason is RejectReason.WRONG_TYPE
    assert "ng/m3, ug/m3 or mg/m3" in exc.value.detail


def test_maintenance_and_calibration_flags_marked() -> None:
    for flag in ("M", "C"):
        (reading,) = to_readings(parse_segment(DUST.replace("a34004-Flag=N", f"a34004-Flag={flag}")),
                                 ReadingSettings(), now_ns=1)
        assert reading.fields["maintenance"] is True and reading.fields["data_flag"] == flag
    (fault,) = to_readings(parse_segment(DUST.replace("a34004-Flag=N", "a34004-Flag=D")), ReadingSettings(), 1)
    assert fault.fields["maintenance"] is False and fault.fields["data_flag"] == "D"


def test_minute_data_period_start_and_suffixes() -> None:
    text = ("QN=20240501120100000;ST=39;CN=2051;PW=1;MN=D;Flag=5;CP=&&DataTime=20240501120000;"
            "a34002-Avg=60,a34002-Min=50,a34002-Max=70,a34002-Flag=N;Leq-Data=50.0;LMx-Data=54.0&&")
    (reading,) = to_readings(parse_segment(text), ReadingSettings(), now_ns=1)
    assert reading.fields["pm10_avg"] == 60 and reading.fields["pm10_min"] == 50 and reading.fields["pm10_max"] == 70
    assert reading.fields["noise_leq"] == 50.0 and reading.fields["noise_lmax"] == 54.0
    assert reading.ts_ns == 1714536000 * 10**9 and reading.tags["cn"] == "2051"


def test_kind_table_is_configurable_and_gas_only_dust_st_is_air() -> None:
    gas = parse_segment("ST=22;CN=2011;MN=G;CP=&&DataTime=20240501120000;a21026-Rtd=10&&")
    assert to_readings(gas, ReadingSettings(), 1)[0].kind == "air"
    custom = ReadingSettings(st_kinds={"22": "weather"})
    assert to_readings(gas, custom, 1)[0].kind == "weather"
    assert to_readings(parse_segment(DUST.replace("ST=39", "ST=77")), ReadingSettings(), 1)[0].kind == "env"


def test_data_time_deviations() -> None:
    with_ms = parse_segment(DUST.replace("DataTime=20240501120000", "DataTime=20240501120000500"))
    (reading,) = to_readings(with_ms, ReadingSettings(), 1)
    assert reading.ts_ns == 1714536000 * 10**9 + 500 * 10**6
    assert any("17 digits" in a for a in with_ms.anomalies)
    bad = parse_segment(DUST.replace("DataTime=20240501120000", "DataTime=20241399120000"))
    (fallback,) = to_readings(bad, ReadingSettings(), now_ns=42)
    assert fallback.ts_ns == 42 and any("not a valid date" in a for a in bad.anomalies)


def test_non_data_commands_give_no_readings() -> None:
    assert to_readings(parse_segment(STANDARD), ReadingSettings(), 1) == []


def test_replies_9014_9011_9012() -> None:
    packet = parse_segment(DUST)
    ack = data_ack(packet)
    assert ack == encode_packet("QN=20240501120000123;ST=91;CN=9014;PW=123456;MN=DUST0001;Flag=4;CP=&&&&")
    parsed = decode_packet(ack)
    assert (parsed.qn, parsed.st, parsed.cn, parsed.flag) == (packet.qn, "91", "9014", 4)
    assert decode_packet(request_answer(packet, QnRtn.PW_ERROR)).cp == {"QnRtn": "3"}
    assert decode_packet(execution_result(packet, ExeRtn.NO_DATA)).cp == {"ExeRtn": "100"}
    no_qn = parse_segment("ST=39;CN=2011;PW=1;MN=X;CP=&&&&")
    assert data_ack(no_qn).startswith(b"##") and b"QN=" not in data_ack(no_qn)


def test_decode_payload_mqtt_codec() -> None:
    payload = encode_packet(DUST) + encode_packet(DUST.replace("DUST0001", "DUST0002"))
    readings = decode_payload(payload, now_ns=1)
    assert [r.device for r in readings] == ["DUST0001", "DUST0002"]
    literal = encode_packet(DUST)[:-2] + b"\\r\\n"
    assert decode_payload(literal, now_ns=1)[0].fields["pm10"] == 62.7
    codec = Hj212Codec()
    assert codec.name == "hj212"
    (reading,) = codec.decode(encode_packet(DUST), {"device": "dust-9", "site": "a"}, now_ns=1)
    assert reading.device == "dust-9" and reading.tags["site"] == "a"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", RejectReason.NO_FIELDS),
        (b"hello", RejectReason.MALFORMED),
        (STANDARD_FRAME.replace(b"1C80", b"1C81"), RejectReason.BAD_CRC),
        (STANDARD_FRAME.replace(b"1C80", b"1CXX"), RejectReason.MALFORMED),
        (STANDARD_FRAME, RejectReason.NO_FIELDS),
        (encode_packet(b"ST=39;CN=2011;MN=\xff\xfe\xfd;CP=&&&&"), RejectReason.BAD_UTF8),
    ],
)
def test_decode_payload_rejections(payload: bytes, reason: RejectReason) -> None:
    with pytest.raises(Rejected) as exc:
        decode_payload(payload, now_ns=1)
    assert exc.value.reason is reason
