"""The SL 651-2014 TCP server input: stations connect, send reports, and get EOT/ESC once data is durable."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.framed_tcp import Connection, FramedTcpServer, TcpInput, TcpSettings
from adapters.sl651.framing import FrameReader, Sl651Frame
from adapters.sl651.message import parse_message
from adapters.sl651.readings import Sl651Settings, to_readings
from adapters.sl651.replies import reply
from gateway.model import ReadingSink, Rejected, RejectReason

DeviceLookup = Callable[[str], str | None]
"""Station address (10 hex digits) -> registry device id, or None (the gateway's unknown-device policy)."""


@dataclass(frozen=True, slots=True)
class Sl651ServerSettings:
    """Settings of the SL 651 input."""

    tcp: TcpSettings = field(default_factory=TcpSettings)
    """Connection limits and timeouts."""
    readings: Sl651Settings = field(default_factory=Sl651Settings)
    """Time zone and kinds."""
    keep_online: bool = False
    """Answer with ESC (station stays online 10 min) instead of EOT."""


class Sl651Server(FramedTcpServer):
    """SL 651-2014 HEX frames over TCP; the answer is sent after the sink's commit."""

    def __init__(self, host: str, port: int, sink: ReadingSink, settings: Sl651ServerSettings | None = None, *,
                 device_lookup: DeviceLookup | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or Sl651ServerSettings()
        self.device_lookup = device_lookup
        self.input = TcpInput("sl651", host, port, sink, self, self.settings.tcp, clock)





    def new_reader(self) -> FrameReader:
        """A frame reader for a new connection."""
        return FrameReader()

    def handle(self, conn: Connection, frame: Sl651Frame) -> None:
        """Parse a report, submit its readings with the answer as the last one's ack."""
        self.input.counters.packets += 1
        conn.device = frame.station_hex
        answer = reply(frame, self.settings.keep_online)
        ack = functools.partial(conn.send_threadsafe, answer) if answer is not None else None
        try:
            if frame.packets is not None and frame.packets != (1, 1):
                raise Rejected(RejectReason.MALFORMED, f"M3 multi-packet message {frame.packets} is not supported")
            message = parse_message(frame)
            device = self.device_lookup(message.station) if self.device_lookup is not None else None
            readings = to_readings(message, self.settings.readings, device)
        except Rejected as exc:
            self.input.reject(conn, exc.reason, exc.detail, frame.raw, ack)
            return
        self.input.counters.anomalies += len(message.anomalies)
        if not readings:
            if answer is not None:
                conn.send(answer)
            return
        readings[-1].ack = ack
        for reading in readings:
            self.input.sink.submit(reading)
        self.input.counters.readings += len(readings)
