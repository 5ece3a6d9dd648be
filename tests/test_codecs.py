"""Payload codecs and topic templates: what decodes, and every bad input's counted reason."""

from __future__ import annotations

import pytest

from adapters.codecs import FieldSpec, JsonCodec, JsonSettings, LineCodec, NumberCodec
from adapters.codecs.timestamps import to_ns
from adapters.mqtt.templates import TopicTemplate
from gateway.model import Rejected, RejectReason

NOW = 1_700_000_000_000_000_000
TOPIC = {"device": "dust-0001", "kind": "dust", "grid": "110105001001001"}


def test_template_captures_and_filter() -> None:
    tpl = TopicTemplate.parse("grid/{grid}/{kind}/{device}")
    assert tpl.match("grid/110105001001001/dust/dust-0001") == TOPIC
    assert tpl.match("grid/110105001001001/dust") is None
    assert tpl.match("other/1/dust/d") is None
    assert tpl.filter() == "grid/+/+/+"
    rest = TopicTemplate.parse("site/{device}/{path...}")
    assert rest.match("site/d1/a/b") == {"device": "d1", "path": "a/b"}
    assert rest.filter() == "site/+/#"


@pytest.mark.parametrize("bad", ["grid/+/x", "grid/{a b}", "grid/x{y}"])
def test_template_rejects_bad_levels(bad: str) -> None:
    with pytest.raises(ValueError, match="template level"):
        TopicTemplate.parse(bad)


def test_json_auto_fields_nested_and_timestamp() -> None:
    payload = b'{"pm25": 35, "pm10": 80.5, "alarm": false, "status": "ok", "data": {"tsp": 120}, "ts": 1700000001}'
    (reading,) = JsonCodec().decode(payload, TOPIC, NOW)
    assert reading.fields == {"pm25": 35.0, "pm10": 80.5, "alarm": False, "data_tsp": 120.0}
    assert reading.ts_ns == 1_700_000_001_000_000_000
    assert (reading.device, reading.kind) == ("dust-0001", "dust")
    assert reading.tags == {"topic_grid": "110105001001001"}


def test_json_mapping_types_scale_and_list() -> None:
    settings = JsonSettings(
        fields={"pm10": FieldSpec(("d", "pm10"), "float", 0.001), "fire": FieldSpec(("s",), "bool")},
        timestamp_path=("t",),
        timestamp_unit="iso8601",
    )
    payload = b'[{"d": {"pm10": 80000}, "s": 1, "t": "2024-01-01T08:00:00+08:00"}, {"d": {"pm10": 1000}, "s": 0}]'
    first, second = JsonCodec(settings).decode(payload, {"device": "x"}, NOW)
    assert first.fields == {"pm10": 80.0, "fire": True}
    assert first.ts_ns == 1_704_067_200_000_000_000
    assert second.fields == {"pm10": 1.0, "fire": False} and second.ts_ns == NOW


def test_json_device_and_kind_from_payload() -> None:
    (reading,) = JsonCodec().decode(b'{"device": "w-1", "kind": "water", "level": 1.2}', {}, NOW)
    assert (reading.device, reading.kind, reading.fields) == ("w-1", "water", {"level": 1.2})


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.MALFORMED),
        (b"\xff\xfe{}", RejectReason.BAD_UTF8),
        (b'{"pm10": NaN}', RejectReason.NON_FINITE),
        (b'{"pm10": Infinity}', RejectReason.NON_FINITE),
        (b'{"pm10": "80.5"}', RejectReason.WRONG_TYPE),
        (b'{"status": "ok"}', RejectReason.NO_FIELDS),
        (b"[]", RejectReason.NO_FIELDS),
        (b"[1, 2]", RejectReason.WRONG_TYPE),
        (b'{"pm10": 1, "ts": "yesterday"}', RejectReason.MALFORMED),
        (b'{"pm10": 1, "ts": true}', RejectReason.WRONG_TYPE),
    ],
)
def test_json_rejects(payload: bytes, reason: RejectReason) -> None:
    with pytest.raises(Rejected) as info:
        JsonCodec().decode(payload, TOPIC, NOW)
    assert info.value.reason is reason


def test_json_that_orjson_refuses_is_judged_by_the_json_module() -> None:
    """orjson is the fast path; what it refuses gets the json module's precise reason or is read by it."""
    with pytest.raises(Rejected) as info:
        JsonCodec().decode(b'{"pm10": 1,\n "pm25": }', TOPIC, NOW)
    assert info.value.reason is RejectReason.MALFORMED and "line 2 col" in info.value.detail
    with pytest.raises(Rejected) as info:
        JsonCodec().decode(b'{"pm10": \xc3\x28}', TOPIC, NOW)
    assert info.value.reason is RejectReason.BAD_UTF8 and "byte 9" in info.value.detail
    # A lone surrogate escape (orjson refuses it, json reads it) in a text field does not lose the reading,
    # nor does an integer past 64 bits.
    (reading,) = JsonCodec().decode(b'{"pm10": 12, "note": "\\ud800", "big": 123456789012345678901234}', TOPIC, NOW)
    assert reading.fields == {"pm10": 12.0, "big": 1.2345678901234568e23}


def test_json_mapping_rejects_wrong_types() -> None:
    codec = JsonCodec(JsonSettings(fields={"level": FieldSpec(("level",))}))
    with pytest.raises(Rejected) as info:
        codec.decode(b'{"level": "high"}', TOPIC, NOW)
    assert info.value.reason is RejectReason.WRONG_TYPE and "level" in info.value.detail


def test_number_codec() -> None:
    (reading,) = NumberCodec("level").decode(b" 2.35\n", TOPIC, NOW)
    assert reading.fields == {"level": 2.35}
    (alarm,) = NumberCodec("alarm").decode(b"true", TOPIC, NOW)
    assert alarm.fields == {"alarm": True}
    for bad, reason in ((b"abc", RejectReason.MALFORMED), (b"nan", RejectReason.NON_FINITE)):
        with pytest.raises(Rejected) as info:
            NumberCodec().decode(bad, TOPIC, NOW)
        assert info.value.reason is reason


def test_line_codec() -> None:
    payload = b"water,device=w-2,site=underpass level=0.42,alarm=true 1700000000000000000\nwater,device=w-3 level=1i"
    first, second = LineCodec().decode(payload, {}, NOW)
    assert (first.device, first.kind, first.fields) == ("w-2", "water", {"level": 0.42, "alarm": True})
    assert first.tags == {"site": "underpass"} and first.ts_ns == 1_700_000_000_000_000_000
    assert second.fields == {"level": 1} and second.ts_ns == NOW
    with pytest.raises(Rejected) as info:
        LineCodec().decode(b"water level", {}, NOW)
    assert info.value.reason is RejectReason.MALFORMED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, 1_700_000_000_000_000_000),
        (1_700_000_000_123, 1_700_000_000_123_000_000),
        (1_700_000_000_123_456, 1_700_000_000_123_456_000),
        (1_700_000_000_123_456_789, 1_700_000_000_123_456_789),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000_000_000),
        ("2023-11-15T06:13:20.5+08:00", 1_700_000_000_500_000_000),
    ],
)
def test_timestamp_units(value: object, expected: int) -> None:
    assert to_ns(value) == expected
