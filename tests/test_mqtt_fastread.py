"""The fast MQTT receive path against a scripted broker: exact packets in, exact acks out.

A socket pair stands in for the broker (as paho-mqtt's own tests script one): the test writes PUBLISH
packets, cut at every possible boundary, and reads back the bytes the client answers with.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from adapters.codecs import JsonCodec
from adapters.mqtt.client import MqttInput, MqttSettings, Subscription
from adapters.mqtt.fastread import BufferedSocket, FastReadClient, MalformedPublishError, split_publish, varint
from adapters.mqtt.templates import TopicTemplate
from gateway.journal import Journal, JournalSettings
from gateway.model import GridCell
from gateway.pipeline import Intake
from tests.servers import wait_for
from tests.test_mqtt_input import Dev, Directory

CELL = "110105001001001"


def publish(topic: bytes, payload: bytes, qos: int = 1, mid: int = 1, props: bytes | None = b"") -> bytes:
    """One PUBLISH packet; `props=None` leaves out the properties (MQTT 3.1.1)."""
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    if props is not None:
        body += varint(len(props)) + props
    body += payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


class Pair:
    """A client reading one end of a socket pair; the test is the broker at the other end."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.broker, self.reader = socket.socketpair()
        self.reader.setblocking(False)
        self.client._sock = BufferedSocket(self.reader)

    def send(self, data: bytes) -> MQTTErrorCode:
        """Write `data` as the broker and let the client read everything that arrived."""
        self.broker.sendall(data)
        select.select([self.reader], [], [], 2.0)
        return self.client.loop_read()

    def received(self, size: int, timeout: float = 5.0) -> bytes:
        """Exactly `size` bytes the client wrote (waits up to `timeout`)."""
        self.broker.settimeout(timeout)
        out = b""
        while len(out) < size:
            out += self.broker.recv(size - len(out))
        return out


def fast_client(protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5) -> FastReadClient:
    return FastReadClient(callback_api_version=CallbackAPIVersion.VERSION2, protocol=protocol, manual_ack=True)


# -- split_publish ------------------------------------------------------------------------------------


def test_split_publish_reads_topic_mid_and_payload_and_skips_properties() -> None:
    content_type = b"\x03\x00\x10application/json"  # property 3 (Content Type), a UTF-8 string
    packet = publish(b"grid/a/dust/d1", b'{"pm10": 1}', qos=1, mid=513, props=content_type)
    assert split_publish(packet[2:], 1, True) == (b"grid/a/dust/d1", 513, b'{"pm10": 1}')
    assert split_publish(publish(b"t", b"x", qos=0)[2:], 0, True) == (b"t", 0, b"x")
    assert split_publish(publish(b"t", b"", qos=1, mid=7, props=None)[2:], 1, False) == (b"t", 7, b"")


@pytest.mark.parametrize(
    ("body", "qos", "v5"),
    [
        (b"\x00", 1, True),  # shorter than its topic length
        (b"\x00\x05ab", 1, True),  # topic overruns the packet
        (b"\x00\x01t\x00", 1, True),  # cut in the packet identifier
        (b"\x00\x01t\x00\x01", 1, True),  # no properties length
        (b"\x00\x01t\x00\x01\x09ab", 1, True),  # properties overrun the packet
        (b"\x00\x01t\x00\x01\xff\xff\xff\xff\x01", 1, True),  # a five-byte properties length
        (b"\x00\x00\x00\x01x", 1, False),  # an empty topic in MQTT 3.1.1
    ],
)
def test_split_publish_refuses_malformed_packets(body: bytes, qos: int, v5: bool) -> None:
    with pytest.raises(MalformedPublishError):
        split_publish(body, qos, v5)


# -- the client's read loop ---------------------------------------------------------------------------


def test_every_publish_arrives_in_order_whatever_the_cut() -> None:
    packets = [publish(f"grid/{CELL}/dust/d{i}".encode(), json.dumps({"seq": i}).encode(), qos=i % 2, mid=i + 1)
               for i in range(40)]  # fmt: skip
    stream = b"".join(packets)
    for cut in range(1, 200, 7):  # split the stream into chunks of `cut` bytes
        client = fast_client()
        got: list[tuple[bytes, bytes, int, int]] = []
        client.on_publish_raw = lambda *args, got=got: got.append(args)
        pair = Pair(client)
        for start in range(0, len(stream), cut):
            assert pair.send(stream[start : start + cut]) == MQTTErrorCode.MQTT_ERR_SUCCESS
        assert [g[0] for g in got] == [f"grid/{CELL}/dust/d{i}".encode() for i in range(40)], cut
        assert [(g[2], g[3]) for g in got] == [((i + 1) if i % 2 else 0, i % 2) for i in range(40)]
        assert json.loads(got[-1][1]) == {"seq": 39}


def test_qos2_goes_through_paho_which_answers_pubrec() -> None:
    client = fast_client()
    raw: list[bytes] = []
    messages: list[mqtt.MQTTMessage] = []
    client.on_publish_raw = lambda topic, *_: raw.append(topic)
    client.on_message = lambda _c, _u, msg: messages.append(msg)
    pair = Pair(client)
    pair.send(publish(b"a/b", b"one", qos=2, mid=300) + publish(b"a/c", b"two", qos=1, mid=301))
    assert pair.received(4) == b"\x50\x02\x01\x2c"  # PUBREC for packet 300, from paho
    assert raw == [b"a/c"]
    pair.send(b"\x62\x02\x01\x2c")  # PUBREL 300: paho delivers the message and answers PUBCOMP
    assert [(m.topic, m.payload, m.qos) for m in messages] == [("a/b", b"one", 2)]


def test_a_malformed_publish_is_a_protocol_error() -> None:
    client = fast_client()
    client.on_publish_raw = lambda *_: None
    pair = Pair(client)
    assert pair.send(b"\x32\x03\x00\x05a") == MQTTErrorCode.MQTT_ERR_PROTOCOL  # topic overruns the packet


# -- MqttInput over the scripted broker ----------------------------------------------------------------


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[MqttInput, Intake, Journal, Pair]]:
    journal = Journal(JournalSettings(tmp_path / "journal.db", commit_interval=0.01), sinks=["influx"])
    intake = Intake(Directory([Dev("d1", "dust", GridCell(CELL))]), journal)
    subs = [Subscription("grid/+/+/+", TopicTemplate.parse("grid/{grid}/{kind}/{device}"), JsonCodec())]
    mqtt_in = MqttInput(MqttSettings(max_payload=64), subs, intake)
    pair = Pair(mqtt_in._client)
    journal.start()
    yield mqtt_in, intake, journal, pair
    journal.close()


def test_readings_and_rejects_are_acked_in_order_after_commit(wired: tuple[MqttInput, Intake, Journal, Pair]) -> None:
    mqtt_in, intake, journal, pair = wired
    ts = int(time.time()) - 10
    sends: list[tuple[bytes, bytes]] = [
        (f"grid/{CELL}/dust/d1".encode(), json.dumps({"pm10": 1, "ts": ts}).encode()),
        (b"grid/\xc3\x28/dust/d1", b'{"pm10": 2}'),  # a topic that is not UTF-8 (mosquitto would refuse it)
        (f"grid/{CELL}/dust/d1".encode(), b'{"pm10": ' + b"9" * 80 + b"}"),  # over max_payload
        (f"grid/{CELL}/dust/d1".encode(), json.dumps({"pm10": 3, "ts": ts + 1}).encode()),
    ]
    pair.send(b"".join(publish(topic, payload, qos=1, mid=10 + i) for i, (topic, payload) in enumerate(sends)))
    acks = pair.received(16)
    assert acks == b"".join(bytes([0x40, 2, 0, 10 + i]) for i in range(4))  # PUBACKs, in receive order
    assert journal.depth("influx") == 2
    assert dict(intake.stats.rejected or {}) == {"bad_utf8": 1, "oversize": 1}
    assert mqtt_in.stats.received == 4
    wait_for(lambda: len(journal.dead_letters()) == 2, what="dead letters committed")
