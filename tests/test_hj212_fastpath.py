"""The HJ 212 fast paths (compiled CP layouts, the clean header, compiled field plans) equal the general code."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.hj212 import ReadingSettings, data_ack, encode_packet, parse_segment, to_readings
from adapters.hj212.layout import _LAYOUTS, MAX_LAYOUTS, parse_clean_cp
from adapters.hj212.packet import Hj212Packet, _parse_any_cp, _parse_any_header, _parse_cp, _parse_header
from adapters.hj212.replies import reply_segment
from gateway.model import Reading, Rejected

MANY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
keys = st.sampled_from(["DataTime", "Flag", "RtdInterval", "a34001-Rtd", "a34001-Flag", "a34002-Avg", "a34002-Max",
                        "LA-Rtd", "LA-Rtd-Rtd", "LA-td", "a01001-Rtd", "a01001-SampleTime", "a01001-Foo", "a-", "-Rtd",
                        "w01018-Cou", "a34004-EFlag", "a34004-Rtd", "x"])
values = st.sampled_from(["1", "2.5", "-3", "1e3", "nan", "inf", "-inf", "1e308", "abc", "", "N", "M", "1_0", "0x1",
                          "20240501120000", "a=b", " 4"])
clean_values = st.sampled_from(["1", "2.5", "-3", "1e3", "20240501120000", "N", "M", "C"])
items = st.one_of(st.tuples(keys, st.just("="), clean_values),
                  st.tuples(keys, st.sampled_from(["=", "==", "", " = "]), values)).map("".join)
cp_texts = st.lists(st.tuples(items, st.sampled_from([";", ",", ";", ",", "; ", ";;"])), max_size=12).map(
    lambda pairs: "".join(item + sep for item, sep in pairs)[:-1] if pairs else "")
field_values = {"QN": ["20240501120000123", "2024050112000012", "2024050112000012x"], "ST": ["39", "", "3 9"],
                "CN": ["2011", "", "9014"], "PW": ["123456", "", "a=b"], "MN": ["DUST1", "", " D"],
                "Flag": ["5", "4", "7", "255", "256", "300", "0005", "x", ""]}
canonical = st.tuples(*(st.sampled_from([f"{k}={value}" for value in v]) for k, v in field_values.items()))
any_order = st.lists(st.sampled_from(["QN=20240501120000123", "QN=1", "ST=39", "ST=", "CN=2011", "CN=", "PW=123456",
                                      "MN=DUST1", "MN=", "Flag=5", "Flag=7", "Flag=300", "Flag=x", "PNUM=2", "PNO=1",
                                      "X=1", "junk", " MN=S "]), max_size=9)
headers = st.one_of(canonical.map(";".join), any_order.map(";".join)).map(lambda head: head + ";")


def general_cp(cp_text: str) -> Hj212Packet:
    """The packet the general CP parser makes."""
    packet = Hj212Packet(text="")
    if "," not in cp_text and cp_text.count(";") > 1 and "-Flag" not in cp_text:
        packet.anomalies.append("';' between all CP items, no data flags")
    _parse_any_cp(cp_text, packet)
    return packet


@MANY
@given(cp_texts)
def test_cp_fast_path_equals_general_parser(cp_text: str) -> None:
    fast = Hj212Packet(text="")
    _parse_cp(cp_text, fast)
    slow = general_cp(cp_text)
    assert (fast.factors, fast.cp, fast.data_time, fast.anomalies) == (slow.factors, slow.cp, slow.data_time,
                                                                      slow.anomalies)
    assert [list(f) for f in fast.factors.values()] == [list(f) for f in slow.factors.values()]  # same order
    assert list(fast.factors) == list(slow.factors) and list(fast.cp) == list(slow.cp)


@MANY
@given(headers)
def test_header_fast_path_equals_general_parser(head: str) -> None:
    outcomes = []
    for parse in (_parse_header, _parse_any_header):
        packet = Hj212Packet(text="")
        try:
            parse(head, packet)
        except Rejected as exc:
            outcomes.append((exc.reason, exc.detail))
        else:
            outcomes.append(dataclasses.astuple(packet))
    assert outcomes[0] == outcomes[1]


def readings_both_ways(segment: str, reading_settings: ReadingSettings) -> tuple[list[Reading], list[Reading]]:
    """Readings with the compiled field plan, and with the general code (the layout dropped)."""
    fast_packet, slow_packet = parse_segment(segment), parse_segment(segment)
    slow_packet.layout = None
    return to_readings(fast_packet, reading_settings, 1), to_readings(slow_packet, reading_settings, 1)


@MANY
@given(cp_texts, st.sampled_from(["ug/m3", "mg/m3"]))
def test_field_plan_equals_general_fields(cp_text: str, unit: str) -> None:
    segment = f"QN=20240501120000123;ST=39;CN=2011;PW=1;MN=M1;Flag=5;CP=&&{cp_text}&&"
    try:
        fast, slow = readings_both_ways(segment, ReadingSettings(particulate_unit=unit))
    except Rejected:
        return
    assert [(r.fields, list(r.fields), r.ts_ns, r.kind) for r in fast] == \
           [(r.fields, list(r.fields), r.ts_ns, r.kind) for r in slow]


def test_field_plan_notices_factors_edited_after_parsing() -> None:
    packet = parse_segment("QN=20240501120000123;ST=39;CN=2011;PW=1;MN=M1;Flag=5;"
                           "CP=&&DataTime=20240501120000;a34002-Rtd=62.7,a34002-Flag=N&&")
    assert packet.layout is not None
    packet.factors["a34002"]["Avg"] = 60.0
    packet.factors["a34004"] = {"Rtd": 40.0, "Flag": "M"}
    (reading,) = to_readings(packet, ReadingSettings(), 1)
    assert (reading.fields["pm10_avg"], reading.fields["pm25"], reading.fields["data_flag"]) == (60.0, 40.0, "M")
    del packet.factors["a34002"]["Rtd"]
    (reading,) = to_readings(packet, ReadingSettings(), 1)
    assert "pm10" not in reading.fields


def test_layout_cache_is_bounded() -> None:
    saved = dict(_LAYOUTS)
    try:
        for n in range(MAX_LAYOUTS + 10):
            parse_clean_cp(f"DataTime=20240501120000;f{n}-Rtd=1")
        assert len(_LAYOUTS) <= MAX_LAYOUTS
        assert parse_clean_cp("DataTime=20240501120000;unseen-Rtd=1") is None  # full: the general parser
        packet = parse_segment("ST=39;CN=2011;MN=M;CP=&&DataTime=20240501120000;unseen-Rtd=1&&")
        assert packet.factors == {"unseen": {"Rtd": 1.0}} and packet.layout is None
    finally:
        _LAYOUTS.clear()
        _LAYOUTS.update(saved)


@MANY
@given(st.text(alphabet="0123456789", min_size=1, max_size=30), st.text(alphabet="ab12中", max_size=8),
       st.text(alphabet="XYZ0919", min_size=1, max_size=30))
def test_data_ack_by_crc_linearity_equals_encoding_the_reply(qn: str, pw: str, mn: str) -> None:
    packet = parse_segment(f"QN={qn};ST=39;CN=2011;PW={pw};MN={mn};Flag=5;CP=&&&&")
    assert data_ack(packet) == encode_packet(reply_segment(packet, "9014"))
