"""MQTT input against a real mosquitto: readings land tagged, bad input is counted and acked."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from adapters.codecs import JsonCodec, NumberCodec
from adapters.mqtt.client import MqttInput, MqttSettings, Subscription
from adapters.mqtt.templates import TopicTemplate
from gateway.journal import Journal, JournalSettings
from gateway.model import GridCell
from gateway.model.lineproto import parse_line
from gateway.pipeline import DeviceInfo, Intake
from tests.servers import Mosquitto, wait_for

CELLS = ["110105001001001", "110105001001002", "110105002003001"]
T0 = int(time.time()) - 600  # device clocks a little behind, within the skew limit


@dataclass(frozen=True)
class Dev:
    id: str
    kind: str
    grid: GridCell
    scale: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


class Directory:
    def __init__(self, devices: list[Dev]) -> None:
        self.devices = {d.id: d for d in devices}

    def device(self, device_id: str) -> DeviceInfo | None:
        return self.devices.get(device_id)

    def locate(self, lat: float, lon: float) -> GridCell | None:
        return None


def publisher(broker: Mosquitto, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5) -> mqtt.Client:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=protocol)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


@pytest.fixture
def gateway_parts(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[MqttInput, Intake, Journal]]:
    devices = [Dev(f"dust-{i:04d}", "dust", GridCell(CELLS[i % 3])) for i in range(6)]
    devices.append(Dev("water-0001", "water", GridCell(CELLS[2]), scale={"level": 0.01}))
    journal = Journal(JournalSettings(tmp_path / "journal.db", commit_interval=0.01), sinks=["influx"])
    intake = Intake(Directory(devices), journal)
    subs = [
        Subscription("grid/+/+/+", TopicTemplate.parse("grid/{grid}/{kind}/{device}"), JsonCodec(), qos=1),
        Subscription("raw/+/level", TopicTemplate.parse("raw/{device}/level"), NumberCodec("level"), 1, "water"),
    ]
    mqtt_in = MqttInput(MqttSettings(port=mosquitto.port, client_id="gw-test", max_payload=4096), subs, intake)
    journal.start()
    mqtt_in.start()
    assert mqtt_in.connected.wait(10)
    yield mqtt_in, intake, journal
    mqtt_in.stop()
    journal.close()


def test_readings_land_tagged_with_their_cells(
    gateway_parts: tuple[MqttInput, Intake, Journal], mosquitto: Mosquitto
) -> None:
    _, _, journal = gateway_parts
    pub = publisher(mosquitto)
    for i in range(60):
        device = f"dust-{i % 6:04d}"
        payload = json.dumps({"pm10": 50 + i, "pm25": 20.5, "seq": i, "ts": T0 + i})
        pub.publish(f"grid/{CELLS[i % 3]}/dust/{device}", payload, qos=1).wait_for_publish(5)
    pub.publish("raw/water-0001/level", "235", qos=1).wait_for_publish(5)
    wait_for(lambda: journal.depth("influx") == 61, what="61 readings journaled")
    parsed = [parse_line(line) for _, line in journal.pending("influx", 100)]
    measurement, tags, fields, ts = parsed[0]
    assert measurement == "dust"
    assert tags == {
        "device": "dust-0000", "kind": "dust", "grid": CELLS[0], "district": "110105",
        "street": "110105001", "community": "110105001001", "topic_grid": CELLS[0],
    }
    assert fields == {"pm10": 50.0, "pm25": 20.5, "seq": 0.0} and ts == T0 * 1_000_000_000
    assert [p[2]["seq"] for p in parsed[:60]] == [float(i) for i in range(60)]
    water = parsed[60]
    assert water[0] == "water" and water[1]["grid"] == CELLS[2] and water[2] == {"level": pytest.approx(2.35)}
    pub.loop_stop()


def test_bad_input_is_counted_acked_and_valid_traffic_flows(
    gateway_parts: tuple[MqttInput, Intake, Journal], mosquitto: Mosquitto
) -> None:
    mqtt_in, intake, journal = gateway_parts
    pub = publisher(mosquitto)
    bad = [
        ("grid/110105001001001/dust/dust-0001", b"{oops"),
        ("grid/110105001001001/dust/dust-0001", b'{"pm10": NaN}'),
        ("grid/110105001001001/dust/dust-0001", b'{"pm10": "12"}'),
        ("grid/110105001001001/dust/dust-0001", b"\xc3\x28"),
        ("grid/110105001001001/dust/dust-0001", b'{"pm10": ' + b"1" * 5000 + b"}"),
        ("grid/110105001001001/dust/nobody-9", b'{"pm10": 1}'),
        ("raw/water-0001/level", b"high"),
        ("raw/water-0001/level", b"inf"),
        ("grid/110105001001001/dust/dust-0001", b'{"pm10": 1, "ts": 99999999999}'),
    ]
    for i in range(200):
        pub.publish("grid/110105001001001/dust/dust-0001", json.dumps({"pm10": i, "ts": T0 + i}), qos=1)
        if i % 20 == 0:
            topic, payload = bad[(i // 20) % len(bad)]
            pub.publish(topic, payload, qos=1)
    wait_for(lambda: journal.depth("influx") == 200, what="valid readings")
    wait_for(lambda: sum(intake.stats.rejected.values()) == 10, what="10 rejects")  # type: ignore[union-attr]
    counts = dict(intake.stats.rejected or {})
    assert counts == {  # the ten bad messages: the list once, then its first again
        "malformed": 3, "non_finite": 2, "wrong_type": 1, "bad_utf8": 1, "oversize": 1,
        "unknown_device": 1, "clock_skew": 1,
    }
    wait_for(lambda: len(journal.dead_letters()) == 10, what="dead letters committed")
    reasons = {row[3] for row in journal.dead_letters()}
    assert reasons == set(counts)
    assert mqtt_in.stats.received == 210
    pub.loop_stop()


def test_session_persists_and_acked_messages_are_not_redelivered(tmp_path: Path, mosquitto: Mosquitto) -> None:
    devices = [Dev("dust-0001", "dust", GridCell(CELLS[0]))]

    def run_gateway(journal_path: Path) -> tuple[MqttInput, Journal]:
        journal = Journal(JournalSettings(journal_path, commit_interval=0.01), sinks=["influx"])
        subs = [Subscription("grid/+/+/+", TopicTemplate.parse("grid/{grid}/{kind}/{device}"), JsonCodec())]
        settings = MqttSettings(port=mosquitto.port, client_id="gw-persist")
        gw = MqttInput(settings, subs, Intake(Directory(devices), journal))
        journal.start()
        gw.start()
        assert gw.connected.wait(10)
        return gw, journal

    gw, journal = run_gateway(tmp_path / "a.db")
    pub = publisher(mosquitto)
    for i in range(50):
        pub.publish(f"grid/{CELLS[0]}/dust/dust-0001", json.dumps({"pm10": i, "ts": T0 + i}), qos=1)
    wait_for(lambda: journal.depth("influx") == 50, what="first 50")
    wait_for(lambda: journal.queued == 0, what="acks sent")
    gw.stop()
    journal.close()
    # While the gateway is away, the broker queues for its persistent session.
    for i in range(50, 80):
        pub.publish(f"grid/{CELLS[0]}/dust/dust-0001", json.dumps({"pm10": i, "ts": T0 + i}), qos=1)
    pub.loop_stop()
    gw, journal = run_gateway(tmp_path / "b.db")
    wait_for(lambda: journal.depth("influx") == 30, what="the 30 queued while away")
    seqs = [parse_line(line)[2]["pm10"] for _, line in journal.pending("influx", 100)]
    assert seqs == [float(i) for i in range(50, 80)]  # nothing acked before was sent again
    gw.stop()
    journal.close()
