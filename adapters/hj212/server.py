"""The HJ 212 TCP server input: DTUs connect, send packets, and get a 9014 once their data is durable."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from adapters.framed_tcp import Connection, FramedTcpServer, TcpInput, TcpSettings
from adapters.hj212.framing import Frame, FrameReader
from adapters.hj212.packet import Hj212Packet, parse_segment
from adapters.hj212.readings import DATA_COMMANDS, DeviceInfo, ReadingSettings, to_readings
from adapters.hj212.replies import data_ack
from gateway.model import ReadingSink, Rejected, RejectReason

DeviceLookup = Callable[[str], DeviceInfo | None]
"""MN -> the registry device (id and units), or None for an unknown MN (the gateway's policy decides)."""
PasswordLookup = Callable[[str], str | None]
"""MN -> the PW the device must send, or None when its password is not checked."""


class RawRelay(Protocol):
    """Where raw packets go for an upstream platform (see `adapters.hj212.relay`)."""

    def enqueue(self, packets: list[bytes]) -> None:
        """Store packets durably for forwarding, in order."""


@dataclass(frozen=True, slots=True)
class Hj212ServerSettings:
    """Settings of the HJ 212 input."""

    tcp: TcpSettings = field(default_factory=TcpSettings)
    """Connection limits and timeouts."""
    readings: ReadingSettings = field(default_factory=ReadingSettings)
    """How packets become readings (time zone, ST -> kind, names, units)."""
    max_segment: int = 4096
    """Largest data segment accepted (the standard says 1024; the length field allows 9999)."""
    ack_rejects: bool = True
    """Answer 9014 to a packet that asked for it even when its content is rejected, so the DTU does not
    resend it forever (bad CRC, bad password and unparseable segments are never answered)."""


class Hj212Server(FramedTcpServer):
    """HJ 212-2017 over TCP: many DTU connections, readings to a `ReadingSink`, 9014 after the commit."""

    def __init__(self, host: str, port: int, sink: ReadingSink, settings: Hj212ServerSettings | None = None, *,
                 device_lookup: DeviceLookup | None = None, password_lookup: PasswordLookup | None = None,
                 relay: RawRelay | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], int] = time.time_ns) -> None:
        self.settings = settings or Hj212ServerSettings()
        self.device_lookup = device_lookup
        self.password_lookup = password_lookup
        self.relay = relay
        self.wall_clock = wall_clock
        self.input = TcpInput("hj212", host, port, sink, self, self.settings.tcp, clock)





    def new_reader(self) -> FrameReader:
        """A frame reader for a new connection."""
        return FrameReader(self.settings.max_segment)

    def handle(self, conn: Connection, frame: Frame) -> None:
        """Parse one packet, check its password, relay it, and submit its readings with the 9014 as ack."""
        counters = self.input.counters
        counters.packets += 1
        try:
            packet = parse_segment(frame.segment)
        except Rejected as exc:
            self.input.reject(conn, exc.reason, exc.detail, frame.raw)
            return
        conn.device = packet.mn
        counters.anomalies += len(packet.anomalies) + len(frame.anomalies)
        if not self._password_ok(conn, packet, frame):
            return
        if self.relay is not None and packet.cn in DATA_COMMANDS:
            self.relay.enqueue([frame.wire])
        ack = functools.partial(conn.send_threadsafe, data_ack(packet)) if packet.ack_requested else None
        self._submit(conn, packet, frame, ack)

    def _password_ok(self, conn: Connection, packet: Hj212Packet, frame: Frame) -> bool:
        """Whether the packet's PW is the one configured for its MN (or no password is configured)."""
        if self.password_lookup is None:
            return True
        expected = self.password_lookup(packet.mn)
        if expected is None or expected == packet.pw:
            return True
        self.input.reject(conn, RejectReason.BAD_PASSWORD, f"MN {packet.mn!r} sent a wrong PW", frame.raw)
        return False

    def _submit(self, conn: Connection, packet: Hj212Packet, frame: Frame, ack: Callable[[], None] | None) -> None:
        """Hand the readings to the sink (the last one carries the ack); reject what cannot be a reading."""
        device = self.device_lookup(packet.mn) if self.device_lookup is not None else None
        try:
            readings = to_readings(packet, self.settings.readings, self.wall_clock(), device)
        except Rejected as exc:
            self.input.reject(conn, exc.reason, exc.detail, frame.raw, ack if self.settings.ack_rejects else None)
            return
        if not readings:
            if ack is not None:
                conn.send(data_ack(packet))
            return
        readings[-1].ack = ack
        sink = self.input.sink
        for reading in readings:
            sink.submit(reading)
        self.input.counters.readings += len(readings)
