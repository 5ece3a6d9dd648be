"""MQTT input on paho-mqtt 2.x: a persistent MQTT 5 session whose PUBACKs wait for the journal.

paho runs its network loop in its own thread and calls `_on_publish` there (QoS 0/1 PUBLISHes are
parsed by `fastread`, QoS 2 ones by paho, through `_on_message`); each message is decoded right away
and handed to the sink with an ack that sends the PUBACK. The sink calls the acks after the group
commit, in receive order ([MQTT-4.6.0-2]), so a message the broker considers delivered is always on
disk. QoS 2 caveat: paho answers PUBREC on receipt (before the journal), so a crash between PUBREC and
commit can lose a QoS 2 message; use QoS 1 (duplicates are harmless: InfluxDB overwrites a point with
the same series and time).
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from adapters.codecs import Codec
from adapters.mqtt.fastread import FastReadClient
from adapters.mqtt.templates import TopicTemplate
from gateway.model import Ack, ReadingSink, Rejected, RejectReason

log = logging.getLogger("gridedge.mqtt")

RAW_KEEP = 4096
"""Bytes of a rejected payload kept in the dead-letter table."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic filter, how its topics map to device/kind/grid, and how its payloads decode."""

    topic: str
    template: TopicTemplate
    codec: Codec
    qos: int = 1
    kind: str = ""
    watchdog: float | None = None


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker and what session to keep there."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "gridedge"
    protocol: Literal["5", "3.1.1"] = "5"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    keepalive: int = 30
    session_expiry: int = 86_400
    receive_maximum: int = 65_535
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    max_payload: int = 256 * 1024


@dataclass(slots=True)
class MqttStats:
    """Counters of the MQTT input (rejects are counted by the sink, by reason)."""

    received: int = 0
    connects: int = 0
    disconnects: int = 0
    subscribes: int = 0
    last_error: str = ""


class _JitteredClient(FastReadClient):
    """paho's client (buffered reads) with full-jitter reconnect backoff, so a fleet does not reconnect in lockstep."""

    def _reconnect_wait(self) -> None:
        # Same doubling and cap as paho's, but sleeps a random share of the delay (full jitter).
        with self._reconnect_delay_mutex:
            if self._reconnect_delay is None:
                self._reconnect_delay = self._reconnect_min_delay
            else:
                self._reconnect_delay = min(self._reconnect_delay * 2, self._reconnect_max_delay)
            delay = random.uniform(self._reconnect_min_delay / 2, self._reconnect_delay)
        deadline = time.monotonic() + delay
        while not self._thread_terminate and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


class MqttInput:
    """Subscribes, decodes and hands readings to the sink; acks only after they are durable."""

    def __init__(
        self,
        settings: MqttSettings,
        subscriptions: Sequence[Subscription],
        sink: ReadingSink,
        *,
        backpressure: Callable[[], object] | None = None,
        clock: Callable[[], int] = time.time_ns,
        batch_acks: bool = False,
    ) -> None:
        self.settings = settings
        self.subscriptions = list(subscriptions)
        self.sink = sink
        self.backpressure = backpressure
        self.clock = clock
        self.stats = MqttStats()
        self.batch_acks = batch_acks
        """When true, acks are only queued; whoever calls them must call `send_acks()` after each batch."""
        self.connected = threading.Event()
        self._last_seen = [time.monotonic()] * len(self.subscriptions)
        self._client = self._make_client()

    def send_acks(self) -> None:
        """Send the acknowledgements queued since the last call in one write (with `batch_acks`)."""
        self._client.send_acks()


    def _make_client(self) -> _JitteredClient:
        s = self.settings
        v5 = s.protocol == "5"
        client = _JitteredClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if s.username:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file, cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(s.tls_insecure)
        client.reconnect_delay_set(max(1, int(s.reconnect_min)), max(1, int(s.reconnect_max)))
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message  # QoS 2 (paho parses those itself)
        client.on_publish_raw = self._on_publish
        client.on_subscribe = self._on_subscribe
        return client

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting until `stop`."""
        s = self.settings
        props: Properties | None = None
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = s.session_expiry
            props.ReceiveMaximum = s.receive_maximum
            self._client.connect_async(s.host, s.port, s.keepalive, clean_start=False, properties=props)
        else:
            self._client.connect_async(s.host, s.port, s.keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop paho's thread; unacked messages stay with the broker."""
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    # -- paho callbacks (paho's thread) ---------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _ud: Any, flags: mqtt.ConnectFlags, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            self.stats.last_error = f"broker refused the connection: {reason}"
            log.error("MQTT: %s", self.stats.last_error)
            return
        self.stats.connects += 1
        log.info(
            "MQTT connected to %s:%d (session %s)",
            self.settings.host,
            self.settings.port,
            "resumed" if flags.session_present else "new",
        )
        if flags.session_present:
            self.connected.set()
            return
        # A new session (first start, or the broker lost ours): subscribe again. `connected` is set when
        # the SUBACK arrives, so whoever waits on it knows the subscriptions exist.
        if self.settings.protocol == "5":
            client.subscribe([(sub.topic, SubscribeOptions(qos=sub.qos)) for sub in self.subscriptions])
        else:
            client.subscribe([(sub.topic, sub.qos) for sub in self.subscriptions])
        self.stats.subscribes += 1

    def _on_subscribe(
        self, _client: mqtt.Client, _ud: Any, _mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        refused = [(sub.topic, str(code)) for sub, code in zip(self.subscriptions, reasons, strict=False)
                   if code.is_failure]  # fmt: skip
        for topic, code in refused:
            self.stats.last_error = f"broker refused the subscription to {topic}: {code}"
            log.error("MQTT: %s", self.stats.last_error)
        log.info("MQTT subscribed to %d topic filter(s)", len(reasons) - len(refused))
        self.connected.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _ud: Any, _flags: mqtt.DisconnectFlags, reason: ReasonCode, _props: Any
    ) -> None:
        self.connected.clear()
        self.stats.disconnects += 1
        if reason.value != 0:
            self.stats.last_error = f"disconnected: {reason}"
            log.warning("MQTT %s; reconnecting with backoff", self.stats.last_error)

    def _ack_now(self, mid: int, qos: int) -> None:
        """Send one PUBACK (QoS 1) or PUBCOMP (QoS 2) right away (paho's ack is thread-safe)."""
        self._client.ack(mid, qos)

    def _on_message(self, _client: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        self._on_publish(msg._topic, bytes(msg.payload), msg.mid, msg.qos)

    def _on_publish(self, topic: bytes, payload: bytes, mid: int, qos: int) -> None:
        """One PUBLISH (paho's thread): decode and submit it, or reject it; it is acked after its commit."""
        self.stats.received += 1
        ack: Ack | None = None
        if qos:
            ack = partial(self._client.queue_ack, mid, qos) if self.batch_acks else partial(self._ack_now, mid, qos)
        try:
            self._handle(topic, payload, ack)
        except Rejected as rej:
            self.sink.reject("mqtt", rej.reason, rej.detail, payload[:RAW_KEEP], ack)
        except Exception as exc:  # paho's loop dies on a callback exception; nothing may reach it
            log.exception("MQTT: unexpected error handling a message")
            detail = f"internal error: {exc!r}"
            self.sink.reject("mqtt", RejectReason.MALFORMED, detail, payload[:RAW_KEEP], ack)
        if self.backpressure is not None:
            self.backpressure()

    def _handle(self, raw_topic: bytes, payload: bytes, ack: Ack | None) -> None:
        try:
            topic = raw_topic.decode()
        except UnicodeDecodeError:
            raise Rejected(RejectReason.BAD_UTF8, "topic is not valid UTF-8") from None
        source = f"mqtt:{topic}"
        if len(payload) > self.settings.max_payload:
            detail = f"payload of {len(payload)} bytes exceeds max_payload {self.settings.max_payload}"
            self.sink.reject(source, RejectReason.OVERSIZE, detail, payload[:RAW_KEEP], ack)
            return
        for index, sub in enumerate(self.subscriptions):
            captured = sub.template.match(topic)
            if captured is None:
                continue
            self._last_seen[index] = time.monotonic()
            try:
                readings = sub.codec.decode(payload, captured, self.clock())
            except Rejected as rej:
                self.sink.reject(source, rej.reason, rej.detail, payload[:RAW_KEEP], ack)
                return
            last = len(readings) - 1
            for i, reading in enumerate(readings):
                reading.kind = reading.kind or sub.kind
                reading.ack = ack if i == last else None  # committed in order: the last one's commit covers all
                self.sink.submit(reading)
            return
        self.sink.reject(source, RejectReason.NO_TEMPLATE, f"topic {topic!r} matches no template", b"", ack)

    # -- health ------------------------------------------------------------------------------------

    def silent(self, now_monotonic: float | None = None) -> list[tuple[str, float]]:
        """Subscriptions whose watchdog has expired: (topic filter, seconds since the last message)."""
        now = time.monotonic() if now_monotonic is None else now_monotonic
        out = []
        for sub, seen in zip(self.subscriptions, self._last_seen, strict=True):
            if sub.watchdog is not None and now - seen > sub.watchdog:
                out.append((sub.topic, now - seen))
        return out
