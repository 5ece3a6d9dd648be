"""Faster receiving for paho-mqtt 2.x: read the socket in 64 KiB chunks and parse every packet in them.

paho reads each packet with several tiny `recv` calls (the command byte, each byte of the remaining
length, then the body) and parses one packet per `select()` round when little is outgoing. Under a
stream of small PUBLISHes that is most of its cost. `BufferedSocket` serves those small reads from one
large read; it reports its buffered bytes through `pending()`, which paho's loop already consults (for
TLS) so it does not wait in `select()` while packets are buffered. `FastReadClient.loop_read` parses
every buffered packet per round. Both lean on paho 2.x internals (`_create_socket`, `_packet_read`),
which requirements.txt pins to the 2.x series; tests/test_mqtt_*.py exercise them against mosquitto.
"""

from __future__ import annotations

import struct
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

CHUNK = 65536
MAX_PACKETS_PER_ROUND = 10_000


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

    def pending(self) -> int:
        """Bytes that can be read without waiting (buffered here, or inside the TLS layer)."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


_PUBACK = 0x40
_PUBCOMP = 0x70


class FastReadClient(mqtt.Client):
    """paho's client with buffered socket reads, every buffered packet parsed per loop round, and
    acknowledgements sent in batches (one write for all the PUBACKs of a journal commit)."""

    _ack_lock = threading.Lock()
    _acks: bytearray | None = None

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
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS
