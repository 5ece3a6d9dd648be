"""HJ 212 TCP server over real loopback TCP: readings, 9014 only after commit, garbage, limits, timeouts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from adapters.framed_tcp import TcpSettings
from adapters.hj212 import Frame, FrameReader, decode_packet, encode_packet
from adapters.hj212.server import Hj212Server, Hj212ServerSettings
from gateway.model import RejectReason
from tests.servers import wait_for
from tests.test_hj212_kit import CommitSink, Dtu, LoopThread


def packet(mn: str = "DUST0001", qn: str = "20240501120000123", flag: int = 5, cn: str = "2011",
           pw: str = "123456", cp: str = "DataTime=20240501120000;a34002-Rtd=62.7,a34002-Flag=N;"
                                      "a34004-Rtd=45.0,a34004-Flag=N") -> bytes:
    """A framed dust upload."""
    return encode_packet(f"QN={qn};ST=39;CN={cn};PW={pw};MN={mn};Flag={flag};CP=&&{cp}&&")


def replies(data: bytes) -> list[str]:
    """The CN and QN of each reply packet in `data`."""
    return [f"{p.cn}:{p.qn}" for p in (decode_packet(f.raw) for f in FrameReader().feed(data) if isinstance(f, Frame))]


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Device:
    """A registry device."""

    id: str
    units: dict[str, str] = field(default_factory=dict)


@dataclass
class Rig:
    """A server on a loop thread with its sink and clock."""

    loop: LoopThread
    sink: CommitSink
    server: Hj212Server
    clock: Clock

    def dtu(self) -> Dtu:
        """A new fake DTU connected to the server."""
        return Dtu(self.server.port)


def make_rig(settings: Hj212ServerSettings | None = None, **kwargs: object) -> Rig:
    """Start a server on a free port."""
    loop, sink, clock = LoopThread(), CommitSink(), Clock()
    server = Hj212Server("127.0.0.1", 0, sink, settings, clock=clock, **kwargs)  # type: ignore[arg-type]
    loop.run(server.start())
    return Rig(loop, sink, server, clock)


def close_rig(rig: Rig) -> None:
    """Stop everything the rig started."""
    rig.loop.run(rig.server.stop())
    rig.loop.close()
    rig.sink.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    """A server with default settings."""
    started = make_rig()
    yield started
    close_rig(started)


def test_realtime_and_minute_data_become_readings_and_are_acked(rig: Rig) -> None:
    dtu = rig.dtu()
    minute = packet(qn="20240501120100000", cn="2051",
                    cp="DataTime=20240501120000;a34002-Avg=60,a34002-Max=70,a34002-Flag=N")
    dtu.send(packet() + minute)
    wait_for(lambda: len(replies(dtu.data())) == 2, what="two 9014 acks")
    assert replies(dtu.data()) == ["9014:20240501120000123", "9014:20240501120100000"]
    ack = decode_packet(FrameReader().feed(dtu.data())[0].raw)  # type: ignore[union-attr]
    assert (ack.st, ack.flag, ack.mn, ack.factors, ack.cp) == ("91", 4, "DUST0001", {}, {})
    rt, mi = rig.sink.readings
    assert (rt.device, rt.kind, rt.fields["pm10"], rt.ts_ns) == ("DUST0001", "dust", 62.7, 1714536000 * 10**9)
    assert mi.fields["pm10_avg"] == 60 and mi.tags["cn"] == "2051"
    assert rig.server.counters.acks == 2 and rig.server.counters.packets == 2
    dtu.close()


def test_ack_only_after_the_sink_committed(rig: Rig) -> None:
    rig.sink.gate.clear()
    dtu = rig.dtu()
    dtu.send(packet())
    wait_for(lambda: len(rig.sink.readings) == 1, what="the reading in the sink")
    assert rig.sink.committed == 0 and rig.server.counters.acks == 0 and dtu.data() == b""
    assert rig.sink.readings[0].ack is not None
    rig.sink.gate.set()
    wait_for(lambda: replies(dtu.data()) == ["9014:20240501120000123"], what="the ack after the commit")
    assert rig.sink.committed == 1
    dtu.close()


def test_no_ack_unless_flag_asks(rig: Rig) -> None:
    dtu = rig.dtu()
    dtu.send(packet(qn="20240501120000001", flag=4) + packet(qn="20240501120000002", flag=5))
    wait_for(lambda: replies(dtu.data()) == ["9014:20240501120000002"], what="one ack")
    assert len(rig.sink.readings) == 2 and rig.sink.readings[0].ack is None
    dtu.close()


def test_half_frames_and_several_per_read(rig: Rig) -> None:
    dtu = rig.dtu()
    stream = packet(qn="20240501120000001") + packet(qn="20240501120000002") + packet(qn="20240501120000003")
    dtu.send(stream[:17])
    wait_for(lambda: rig.server.counters.bytes_in == 17, what="first bytes")
    dtu.send(stream[17:150])
    wait_for(lambda: rig.server.counters.bytes_in == 150, what="more bytes")
    dtu.send(stream[150:])
    wait_for(lambda: len(replies(dtu.data())) == 3, what="three acks")
    assert rig.sink.rejects == []
    dtu.close()


def test_garbage_and_bad_crc_rejected_then_stream_resyncs(rig: Rig) -> None:
    dtu = rig.dtu()
    bad = packet(qn="20240501120000009")[:-6] + b"0000\r\n"
    dtu.send(b"+++AT\r\n" + bad + b"##zz" + packet())
    wait_for(lambda: replies(dtu.data()) == ["9014:20240501120000123"], what="the good packet's ack")
    wait_for(lambda: len(rig.sink.rejects) == 3, what="three rejects")
    assert rig.sink.reasons() == [RejectReason.MALFORMED, RejectReason.BAD_CRC, RejectReason.MALFORMED]
    assert rig.server.counters.rejects["bad_crc"] == 1
    assert all(r.source.startswith("hj212:127.0.0.1:") for r in rig.sink.rejects)
    dtu.close()


def test_ten_megabytes_without_header_closes_that_connection_only() -> None:
    rig = make_rig(Hj212ServerSettings(tcp=TcpSettings(max_garbage=1 << 20)))
    try:
        good, noisy = rig.dtu(), rig.dtu()

        def flood() -> None:
            try:
                for _ in range(160):
                    noisy.send(b"x" * 65536)
            except OSError:
                pass  # the server closed the connection mid-flood, as it should

        sender = threading.Thread(target=flood)
        sender.start()
        for i in range(20):
            good.send(packet(qn=f"202405011200001{i:02d}"))
        wait_for(lambda: len(replies(good.data())) == 20, what="acks on the good connection")
        noisy.wait_closed()
        sender.join(30)
        assert rig.server.counters.garbage_closed == 1
        assert not good.eof
        assert all(len(r.raw) <= 256 for r in rig.sink.rejects)
        good.send(packet(qn="20240501120000999"))
        wait_for(lambda: len(replies(good.data())) == 21, what="the good connection still served")
        good.close()
        noisy.close()
    finally:
        close_rig(rig)


def test_idle_connections_closed_by_driven_clock(rig: Rig) -> None:
    idle, busy = rig.dtu(), rig.dtu()
    wait_for(lambda: rig.server.counters.connections_open == 2, what="two connections")
    rig.clock.now += 500
    busy.send(packet())
    wait_for(lambda: len(replies(busy.data())) == 1, what="busy connection ack")
    rig.clock.now += 200  # idle: 700 s without a byte; busy: 200 s
    assert rig.loop.call(rig.server.input.sweep_idle) == 1
    idle.wait_closed()
    assert not busy.eof and rig.server.counters.idle_closed == 1
    busy.close()


def test_max_connections() -> None:
    rig = make_rig(Hj212ServerSettings(tcp=TcpSettings(max_connections=2)))
    try:
        first, second = rig.dtu(), rig.dtu()
        wait_for(lambda: rig.server.counters.connections_open == 2, what="two connections")
        third = rig.dtu()
        third.wait_closed()
        assert rig.server.counters.connections_refused == 1
        first.send(packet())
        wait_for(lambda: len(replies(first.data())) == 1, what="first still served")
        for dtu in (first, second, third):
            dtu.close()
        wait_for(lambda: rig.server.counters.connections_open == 0, what="connections gone")
    finally:
        close_rig(rig)


def test_password_check_and_device_lookup() -> None:
    devices = {"DUST0001": Device("dust-0001", {"pm10": "mg/m3"})}
    rig = make_rig(device_lookup=devices.get, password_lookup={"DUST0001": "123456"}.get)
    try:
        dtu = rig.dtu()
        dtu.send(packet(pw="000000", qn="20240501120000001") + packet(qn="20240501120000002"))
        wait_for(lambda: replies(dtu.data()) == ["9014:20240501120000002"], what="ack of the right password")
        wait_for(lambda: rig.sink.reasons() == [RejectReason.BAD_PASSWORD], what="bad password rejected")
        (reading,) = rig.sink.readings
        assert reading.device == "dust-0001" and reading.fields["pm10"] == pytest.approx(62700.0)
        assert "DUST0001" in rig.sink.rejects[0].source
        dtu.close()
    finally:
        close_rig(rig)


def test_rejected_content_is_still_acked_so_the_dtu_stops_resending(rig: Rig) -> None:
    dtu = rig.dtu()
    dtu.send(packet(cp="DataTime=20240501120000;a34002-Rtd=bad"))
    wait_for(lambda: replies(dtu.data()) == ["9014:20240501120000123"], what="ack of the rejected packet")
    assert rig.sink.reasons() == [RejectReason.NO_FIELDS] and rig.sink.readings == []
    dtu.close()


def test_ten_megabytes_without_header_tolerated_when_limit_allows() -> None:
    rig = make_rig(Hj212ServerSettings(tcp=TcpSettings(max_garbage=64 << 20)))
    try:
        noisy = rig.dtu()
        for _ in range(160):
            noisy.send(b"x" * 65536)
        noisy.send(packet())
        wait_for(lambda: len(replies(noisy.data())) == 1, timeout=60, what="the packet after 10 MB of garbage")
        assert rig.server.counters.bytes_in >= 10 * 2**20
        reported = sum(int(r.detail.split()[0]) for r in rig.sink.rejects)
        assert reported == 160 * 65536
        assert len(rig.sink.rejects) <= 160 * 65536 // 4096 + 2  # one report per maximal frame's worth, not per read
        (conn,) = rig.server.input.connections
        assert conn.reader.buffered == 0  # type: ignore[attr-defined]
        noisy.close()
    finally:
        close_rig(rig)


def test_a_handler_bug_rejects_the_frame_and_keeps_the_connection() -> None:
    def broken(mn: str) -> Device | None:
        if mn == "BOOM":
            raise RuntimeError("registry exploded")
        return None

    rig = make_rig(device_lookup=broken)
    try:
        dtu = rig.dtu()
        dtu.send(packet(mn="BOOM", qn="20240501120000001") + packet(qn="20240501120000002"))
        wait_for(lambda: replies(dtu.data()) == ["9014:20240501120000002"], what="the next packet served")
        assert rig.sink.reasons() == [RejectReason.MALFORMED]
        assert "internal error" in rig.sink.rejects[0].detail and not dtu.eof
        dtu.close()
    finally:
        close_rig(rig)
