"""Faster receiving for paho-mqtt 2.x: large socket reads, every buffered packet parsed, PUBLISH parsed here.

paho reads each packet with several tiny `recv` calls (the command byte, each byte of the remaining
length, then the body), parses one packet per `select()` round when little is outgoing, and builds an
`MQTTMessage` with a parsed `Properties` object for every PUBLISH. Under a stream of small PUBLISHes
that is most of its cost. `BufferedSocket` serves paho's small reads from one large read and reports
its buffered bytes through `pending()`, which paho's loop already consults (for TLS), so it does not
wait in `select()` while packets are buffered. `FastReadClient.loop_read` takes every complete packet
out of that buffer itself: a QoS 0 or 1 PUBLISH goes straight to `on_publish_raw(topic, payload, mid,
qos)` (the properties are skipped: the gateway uses none, and it announces no Topic Alias Maximum, so
[MQTT-3.3.2-8] the broker sends none); every other packet, QoS 2 PUBLISHes included, is handed to
paho's own handler. All of this leans on paho 2.x internals (`_create_socket`, `_packet_read`,
`_packet_handle`, `_in_packet`), which requirements.txt pins to the 2.x series; tests/test_mqtt_*.py
exercise them against mosquitto.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import time_func
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.exception import MalformedPacket

CHUNK = 65536
MAX_PACKETS_PER_ROUND = 10_000

RawPublish = Callable[[bytes, bytes, int, int], None]
"""on_publish_raw(topic, payload, mid, qos): a QoS 0/1 PUBLISH; the topic is raw bytes (may be bad UTF-8)."""

_PUBLISH = 0x30
_PUBACK = 0x40
_PUBCOMP = 0x70


class MalformedPublishError(ValueError):
    """A PUBLISH whose lengths do not fit its packet."""


class BufferedSocket:
    """A socket (plain or TLS) whose small reads are served from one large read."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes: from the buffer, else one large read of the socket (may raise BlockingIOError)."""
        if self._pos >= len(self._buf):
            data = self._sock.recv(max(size, CHUNK))
            if len(data) <= size:
                return bytes(data)
            self._buf, self._pos = data, 0
        end = self._pos + size
        chunk = self._buf[self._pos : end]
        self._pos = min(end, len(self._buf))
        return chunk

    def take_packet(self) -> tuple[int, bytes] | None:
        """The next whole packet in the buffer as (first byte, body), or None if none is whole yet.

        A remaining length longer than four bytes is left to paho's reader, which refuses it.
        """
        buf, pos = self._buf, self._pos
        length, i = read_varint(buf, pos + 1)
        if length < 0 or i + length > len(buf):
            return None
        self._pos = i + length
        return buf[pos], buf[i : i + length]

    def pending(self) -> int:
        """Bytes that can be read without waiting (buffered here, or inside the TLS layer)."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def read_varint(buf: bytes, at: int) -> tuple[int, int]:
    """The MQTT variable byte integer at `at` and the index after it; (-1, at) when cut or over 4 bytes."""
    value, shift, end = 0, 0, len(buf)
    while at < end and shift <= 21:
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    return -1, at


def varint(n: int) -> bytes:
    """`n` as an MQTT variable byte integer (for clients that build packets: the benchmarks and tests)."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def split_publish(body: bytes, qos: int, v5: bool) -> tuple[bytes, int, bytes]:
    """(topic, packet id, payload) of a PUBLISH body; MQTT 5 properties are skipped."""
    size = len(body)
    if size < 2:
        raise MalformedPublishError("PUBLISH shorter than its topic length")
    at = 2 + ((body[0] << 8) | body[1])
    topic = body[2:at]
    mid = 0
    if qos:
        if at + 2 > size:
            raise MalformedPublishError("PUBLISH shorter than its packet identifier")
        mid = (body[at] << 8) | body[at + 1]
        at += 2
    if v5:
        length, at = read_varint(body, at)
        if length < 0:
            raise MalformedPublishError("PUBLISH properties length is cut or too long")
        at += length
    if at > size or (not topic and not v5):
        raise MalformedPublishError("PUBLISH topic or properties overrun the packet, or an empty MQTT 3 topic")
    return topic, mid, body[at:]


class FastReadClient(mqtt.Client):
    """paho's client with buffered socket reads, whole-buffer packet parsing, a direct PUBLISH path and
    acknowledgements sent in batches (one write for all the PUBACKs of a journal commit)."""

    _ack_lock = threading.Lock()
    _acks: bytearray | None = None
    on_publish_raw: RawPublish | None = None
    """When set, QoS 0/1 PUBLISHes go here instead of to `on_message` (QoS 2 still goes to `on_message`)."""

    def queue_ack(self, mid: int, qos: int) -> None:
        """Add the PUBACK (QoS 1) or PUBCOMP (QoS 2) of a message to the next `send_acks` (any thread)."""
        packet = struct.pack("!BBH", _PUBACK if qos == 1 else _PUBCOMP, 2, mid)
        with self._ack_lock:
            if self._acks is None:
                self._acks = bytearray()
            self._acks += packet

    def send_acks(self) -> None:
        """Queue every acknowledgement added since the last call as one write, in the order added."""
        with self._ack_lock:
            blob, self._acks = self._acks, None
        if blob:
            # A run of PUBACK/PUBCOMP packets is written as one buffer; paho only inspects the first byte.
            self._packet_queue(_PUBACK, bytes(blob), 0, 0)

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        return sock if self._transport == "websockets" else BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read and handle packets until the socket would block (bounded, so writes and pings interleave)."""
        for _ in range(MAX_PACKETS_PER_ROUND):
            sock = self._sock
            if sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            # Between packets, take whole ones straight from the buffer; paho reads the rest (and the socket).
            between = self._in_packet["command"] == 0 and isinstance(sock, BufferedSocket)
            packet = sock.take_packet() if between else None  # type: ignore[attr-defined]
            rc = self._packet_read() if packet is None else self._handle_buffered(*packet)
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_buffered(self, command: int, body: bytes) -> MQTTErrorCode:
        """Handle one whole packet taken from the buffer: QoS 0/1 PUBLISH here, the rest by paho."""
        with self._msgtime_mutex:
            self._last_bytes_received = time_func()
        if command & 0xF0 == _PUBLISH and self._takes_raw(command):
            return self._publish_raw(command, body)
        return self._paho_handle(command, body)

    def _handle_publish(self) -> MQTTErrorCode:
        """A PUBLISH that paho's own reader completed (one cut across socket reads): same path."""
        command = self._in_packet["command"]
        if self._takes_raw(command):
            return self._publish_raw(command, bytes(self._in_packet["packet"]))
        return super()._handle_publish()

    def _takes_raw(self, command: int) -> bool:
        return self.on_publish_raw is not None and command & 0x06 in (0, 2)  # QoS 2 (and a bad 3) stay with paho

    def _publish_raw(self, command: int, body: bytes) -> MQTTErrorCode:
        """Split a QoS 0/1 PUBLISH and hand it to `on_publish_raw`."""
        qos = (command & 0x06) >> 1
        try:
            topic, mid, payload = split_publish(body, qos, self._protocol == mqtt.MQTTv5)
        except MalformedPublishError:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        assert self.on_publish_raw is not None
        with self._in_callback_mutex:
            self.on_publish_raw(topic, payload, mid, qos)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _paho_handle(self, command: int, body: bytes) -> MQTTErrorCode:
        """Let paho handle a whole packet as if its own reader had just read it."""
        self._in_packet = {
            "command": command, "have_remaining": 1, "remaining_count": [], "remaining_mult": 1,
            "remaining_length": len(body), "packet": bytearray(body), "to_process": 0, "pos": 0,
        }  # fmt: skip
        try:
            rc = self._packet_handle()
        except MalformedPacket:
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        finally:
            self._in_packet = {
                "command": 0, "have_remaining": 0, "remaining_count": [], "remaining_mult": 1,
                "remaining_length": 0, "packet": bytearray(b""), "to_process": 0, "pos": 0,
            }  # fmt: skip
        return rc
