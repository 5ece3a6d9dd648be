"""SL 651 TCP server over real loopback TCP: readings, EOT only after commit, garbage and M3 rejects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.hj212.framing import Garbage
from adapters.sl651 import EOT, ESC, FrameReader, Sl651Frame
from adapters.sl651.crc import sl651_crc
from adapters.sl651.server import Sl651Server, Sl651ServerSettings
from gateway.model import RejectReason
from tests.servers import wait_for
from tests.test_hj212_kit import CommitSink, Dtu, LoopThread
from tests.test_sl651_codec import VECTORS, WORKED, report


def answers(data: bytes) -> list[Sl651Frame]:
    """The downlink frames in `data`."""
    return [f for f in FrameReader().feed(data) if not isinstance(f, Garbage)]


class Rig:
    """An SL 651 server on a loop thread."""

    def __init__(self, settings: Sl651ServerSettings | None = None) -> None:
        self.loop, self.sink = LoopThread(), CommitSink()
        self.server = Sl651Server("127.0.0.1", 0, self.sink, settings,
                                  device_lookup={"0011223344": "water-0001"}.get)
        self.loop.run(self.server.start())

    def close(self) -> None:
        """Stop everything."""
        self.loop.run(self.server.stop())
        self.loop.close()
        self.sink.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    """A running server."""
    started = Rig()
    yield started
    started.close()


def test_report_becomes_reading_and_is_answered_after_commit(rig: Rig) -> None:
    rig.sink.gate.clear()
    station = Dtu(rig.server.port)
    station.send(WORKED[:20])
    station.send(WORKED[20:])
    wait_for(lambda: len(rig.sink.readings) == 1, what="the reading")
    (reading,) = rig.sink.readings
    assert reading.device == "water-0001" and reading.fields["water_level"] == pytest.approx(10.49)
    assert station.data() == b"" and rig.server.counters.acks == 0
    rig.sink.gate.set()
    wait_for(lambda: len(answers(station.data())) == 1, what="the EOT answer")
    (answer,) = answers(station.data())
    assert (answer.up, answer.end, answer.function, answer.body) == (False, EOT, 0x32, WORKED[14:22])
    station.close()


def test_heartbeat_unanswered_garbage_and_bad_crc_rejected(rig: Rig) -> None:
    station = Dtu(rig.server.port)
    bad = WORKED[:-1] + b"\x00"
    station.send(bytes.fromhex(VECTORS[1][0]) + b"garbage" + bad + report(0x33, b"\x20\x19\x00\x01\x25"))
    wait_for(lambda: len(answers(station.data())) == 1, what="the alarm report's answer")
    wait_for(lambda: len(rig.sink.rejects) == 2, what="two rejects")
    assert rig.sink.reasons() == [RejectReason.MALFORMED, RejectReason.BAD_CRC]
    (reading,) = rig.sink.readings
    assert reading.kind == "rain" and reading.fields["alarm"] is True
    assert rig.server.counters.packets == 2
    station.close()


def test_multi_packet_rejected_but_answered_and_esc_when_kept_online() -> None:
    rig = Rig(Sl651ServerSettings(keep_online=True))
    try:
        station = Dtu(rig.server.port)
        frame = bytearray(report(0x34, b"\x38\x12\x12\x00"))
        body_len = int.from_bytes(frame[11:13], "big") + 3
        frame[11:13] = body_len.to_bytes(2, "big")
        frame[13:14] = b"\x16\x00\x20\x01"  # SYN, 2 packets, this is packet 1
        raw = bytes(frame[:-2])
        raw += sl651_crc(raw).to_bytes(2, "big")
        station.send(raw + WORKED)
        wait_for(lambda: len(answers(station.data())) == 2, what="two answers")
        assert [a.end for a in answers(station.data())] == [ESC, ESC]
        assert rig.sink.reasons() == [RejectReason.MALFORMED]
        assert "M3" in rig.sink.rejects[0].detail
        station.close()
    finally:
        rig.close()
