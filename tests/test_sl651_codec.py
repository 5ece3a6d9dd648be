"""SL 651-2014 codec: CRC vectors, the worked frame (Z = 10.490 m), elements, series, replies, framing."""

from __future__ import annotations

import pytest

from adapters.hj212.framing import Garbage
from adapters.sl651 import (
    ALARM,
    EOT,
    ESC,
    HOURLY,
    FrameReader,
    Sl651Frame,
    Sl651Settings,
    bcd_value,
    encode_frame,
    parse_message,
    reply,
    sl651_crc,
    to_readings,
)
from gateway.model import Rejected, RejectReason

WORKED = bytes.fromhex(
    "7E7E05001122334403E832002B020034170718110016F1F1001122334448F0F01707181100"
    "201900004026190000403923000104903812109903A421"
)
"""The reference's worked 定时报 frame (domain-standards.md §2.3)."""
VECTORS = [
    ("7E7E01001234567812342F0008020003591011155111036BCA", 0x6BCA),
    ("7E7E00987654321012342F0008027E0822101110074703C3AE", 0xC3AE),
    (WORKED.hex(), 0xA421),
    ("7E7E050011223344123441005102001E170718101813F1F100112233440120050000000228001122334403101234045002218094"
     "153172009708053801A130123456780C08020D4080010000000000000F6831303133313132333435363738036F60", 0x6F60),
]
STATION = bytes.fromhex("0011223344")


def only_frame(data: bytes) -> Sl651Frame:
    """The single frame in `data`."""
    (item,) = FrameReader().feed(data)
    assert isinstance(item, Sl651Frame), item
    return item


def report(function: int, elements: bytes, observed: str = "2405011200", serial: int = 7) -> bytes:
    """An uplink report frame from station 0011223344."""
    body = (serial.to_bytes(2, "big") + bytes.fromhex("240501120005") + b"\xf1\xf1" + STATION + b"H"
            + b"\xf0\xf0" + bytes.fromhex(observed) + elements)
    return encode_frame(centre=1, station=STATION, password=0x1234, function=function, body=body, end=0x03)


@pytest.mark.parametrize(("hex_frame", "crc"), VECTORS)
def test_crc_vectors_and_frames_read(hex_frame: str, crc: int) -> None:
    raw = bytes.fromhex(hex_frame)
    assert sl651_crc(raw[:-2]) == crc
    assert int.from_bytes(raw[-2:], "big") == crc  # sent high byte first, unlike Modbus
    assert only_frame(raw).raw == raw


def test_worked_frame_decodes_to_10_490_m() -> None:
    frame = only_frame(WORKED)
    assert (frame.centre, frame.station_hex, frame.password, frame.function, frame.up) == (5, "0011223344", 1000,
                                                                                           0x32, True)
    message = parse_message(frame)
    assert message.values == {"rain": 4.0, "rain_total": 4.0, "water_level": 10.49, "voltage": 10.99}
    assert (message.serial, message.send_time, message.category, message.observed) == (52, "170718110016", "H",
                                                                                       "1707181100")
    (reading,) = to_readings(message, Sl651Settings())
    assert reading.device == "0011223344" and reading.kind == "water"
    assert reading.fields["water_level"] == pytest.approx(10.490)
    assert reading.fields["alarm"] is False and reading.tags == {"report": "timed"}
    assert reading.ts_ns == 1500346800 * 10**9  # 2017-07-18 11:00 Beijing = 03:00 UTC


def test_heartbeat_gives_no_reading_and_no_reply() -> None:
    frame = only_frame(bytes.fromhex(VECTORS[1][0]))
    message = parse_message(frame)
    assert message.serial == 0x7E08 and message.send_time == "221011100747"
    assert to_readings(message, Sl651Settings()) == []
    assert reply(frame) is None


def test_reply_is_downlink_with_serial_send_time_and_eot_or_esc() -> None:
    frame = only_frame(WORKED)
    answer = reply(frame)
    assert answer is not None
    down = only_frame(answer)
    assert (down.up, down.station_hex, down.centre, down.function, down.end) == (False, "0011223344", 5, 0x32, EOT)
    assert down.body == bytes.fromhex("0034170718110016")
    assert answer[2:8] == STATION + b"\x05"  # downlink: station before centre
    assert int.from_bytes(answer[11:13], "big") == 0x8008
    keep = reply(frame, keep_online=True)
    assert keep is not None and only_frame(keep).end == ESC


def test_alarm_report_and_rain_station() -> None:
    message = parse_message(only_frame(report(ALARM, bytes.fromhex("2019000125") + bytes.fromhex("1A19000050"))))
    (reading,) = to_readings(message, Sl651Settings())
    assert reading.kind == "rain" and reading.fields["alarm"] is True and reading.tags["report"] == "alarm"
    assert reading.fields["rain"] == 12.5 and reading.fields["rain_1h"] == 5.0


def test_hourly_series_drz1_drp_and_status() -> None:
    levels = b"".join((100 + i).to_bytes(2, "big") for i in range(11)) + b"\xff\xff"
    rain = bytes([1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0xFF, 4])
    elements = (b"\xf5\xc0" + levels + b"\xf4\x60" + rain + b"\x45\x20" + bytes.fromhex("00000005")
                + b"\x39\x23" + bytes.fromhex("00010490") + b"\x1f\x19" + bytes.fromhex("000123"))
    message = parse_message(only_frame(report(HOURLY, elements, observed="2405011200")))
    assert message.values["status"] == 5 and message.values["rain_day"] == 12.3
    readings = to_readings(message, Sl651Settings())
    main, *series = readings
    assert main.kind == "water" and main.fields["water_level"] == pytest.approx(10.49)
    assert len(series) == 12
    hour_end = main.ts_ns
    assert series[0].ts_ns == hour_end - 55 * 60 * 10**9 and series[-1].ts_ns == hour_end
    assert series[0].fields == {"water_level_rel": 1.0, "rain_5min": 0.1, "alarm": False}
    assert series[-1].fields == {"rain_5min": 0.4, "alarm": False}  # its level is FFFF: invalid
    assert series[-2].fields == {"water_level_rel": 1.1, "alarm": False}  # its rain is FF: invalid
    assert all(r.tags["series"] == "5min" for r in series)


def test_negative_and_missing_bcd_values() -> None:
    assert bcd_value(bytes.fromhex("FF0123"), 2) == pytest.approx(-1.23)
    assert bcd_value(bytes.fromhex("FFFF"), 1) is None
    with pytest.raises(ValueError, match="not BCD"):
        bcd_value(bytes.fromhex("1A"), 0)
    message = parse_message(only_frame(report(0x32, b"\x39\x23" + bytes.fromhex("0A010490") + b"\x38\x12\x12\x00")))
    assert "water_level" not in message.values and any("not BCD" in a for a in message.anomalies)
    assert message.values["voltage"] == 12.0


def test_unknown_and_extended_elements_are_kept_by_code() -> None:
    elements = b"\x99\x10\x12\x34" + b"\xff\x01\x10\x00\x07"
    message = parse_message(only_frame(report(0x32, elements)))
    assert message.values == {"e99": 1234, "eff01": 7}


def test_truncated_element_noted() -> None:
    message = parse_message(only_frame(report(0x32, b"\x38\x12\x12\x00\x39\x23\x00")))
    assert message.values == {"voltage": 12.0} and any("truncated" in a for a in message.anomalies)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (bytes.fromhex("0001240501120005"), RejectReason.MALFORMED),
        (bytes.fromhex("0001240501120005F1F1001122334448F0F02405011200"), RejectReason.NO_FIELDS),
        (bytes.fromhex("0001240501120005F1F1"), RejectReason.MALFORMED),
        (bytes.fromhex("00012405011200050000001122334448"), RejectReason.MALFORMED),
        (bytes.fromhex("0001240501120005F1F1001122334448"), RejectReason.MALFORMED),
        (bytes.fromhex("0001240501120005F1F1001122334448F0F02413011200"), RejectReason.MALFORMED),
    ],
)
def test_bad_report_bodies_rejected(body: bytes, reason: RejectReason) -> None:
    frame = only_frame(encode_frame(centre=1, station=STATION, password=0, function=0x32, body=body, end=0x03))
    with pytest.raises(Rejected) as exc:
        to_readings(parse_message(frame), Sl651Settings())
    assert exc.value.reason is reason


def test_reader_resync_split_reads_and_bad_crc() -> None:
    good = WORKED
    bad = good[:-1] + bytes([good[-1] ^ 1])
    stream = b"\x7e\x00junk\x7e" + bad + good + b"\x7e\x7e\x01" + good
    reader = FrameReader()
    items: list[Sl651Frame | Garbage] = []
    for i in range(len(stream)):
        items += reader.feed(stream[i : i + 1])
    kinds = [(type(i).__name__, getattr(i, "reason", None)) for i in items]
    assert kinds == [("Garbage", RejectReason.MALFORMED), ("Garbage", RejectReason.BAD_CRC), ("Sl651Frame", None),
                     ("Garbage", RejectReason.MALFORMED), ("Sl651Frame", None)]
    assert FrameReader().feed(stream)[2] == items[2]


def test_reader_bounded_on_garbage() -> None:
    reader = FrameReader()
    total = 0
    for _ in range(100):
        total += sum(i.size for i in reader.feed(b"\x7e\x01" * 32768) if isinstance(i, Garbage))
        assert reader.buffered <= 1
    total += sum(i.size for i in reader.flush() if isinstance(i, Garbage))
    assert total == 100 * 65536


def test_encode_frame_checks_arguments() -> None:
    with pytest.raises(ValueError, match="station is 5 bytes"):
        encode_frame(centre=1, station=b"\x00", password=0, function=0x32, body=b"", end=0x03)
