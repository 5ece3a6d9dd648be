"""HJ 212 upstream relay against a local asyncio TCP server playing the provincial platform."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.hj212 import Frame, FrameReader, data_ack, encode_packet, parse_segment
from adapters.hj212.relay import Hj212Relay, RelaySettings
from adapters.hj212.server import Hj212Server
from tests.servers import free_port, wait_for
from tests.test_hj212_kit import CommitSink, Dtu, LoopThread


def upload(i: int, flag: int = 5) -> bytes:
    """A framed upload numbered `i` (its QN ends with the number)."""
    return encode_packet(f"QN=20240501120000{i:03d};ST=39;CN=2011;PW=1;MN=D1;Flag={flag};"
                         f"CP=&&DataTime=20240501120000;a34002-Rtd={i}&&")


@dataclass
class Platform:
    """The provincial platform: records packets, answers 9014 unless told to drop some answers or connections."""

    port: int
    received: list[str] = field(default_factory=list)
    drop_answers: int = 0
    hang_up_after: int | None = None
    server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen on the fixed port."""
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        while data := await reader.read(4096):
            for item in frames.feed(data):
                if not isinstance(item, Frame):
                    continue
                packet = parse_segment(item.segment)
                self.received.append(packet.qn or "")
                if self.hang_up_after is not None and len(self.received) >= self.hang_up_after:
                    self.hang_up_after = None
                    writer.close()
                    return
                if packet.ack_requested and self.drop_answers > 0:
                    self.drop_answers -= 1
                elif packet.ack_requested:
                    writer.write(data_ack(packet))
        writer.close()


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    """A loop thread."""
    thread = LoopThread()
    yield thread
    thread.close()


def relay_settings(tmp_path: Path, port: int, **kwargs: object) -> RelaySettings:
    """Fast test settings."""
    base: dict[str, object] = {"min_backoff": 0.02, "max_backoff": 0.1, "ack_timeout": 0.5}
    base.update(kwargs)
    return RelaySettings("127.0.0.1", port, tmp_path / "relay.db", **base)  # type: ignore[arg-type]


def qns(*numbers: int) -> list[str]:
    """QNs of uploads."""
    return [f"20240501120000{i:03d}" for i in numbers]


def test_forwards_in_order_and_empties_queue(loop: LoopThread, tmp_path: Path) -> None:
    platform = Platform(free_port())
    loop.run(platform.start())
    relay = Hj212Relay(relay_settings(tmp_path, platform.port))
    loop.run(relay.start())
    loop.call(lambda: relay.enqueue([upload(i) for i in range(5)] + [upload(5, flag=4)]))
    wait_for(lambda: relay.pending == 0 and len(platform.received) == 6, what="all delivered")
    assert platform.received == qns(0, 1, 2, 3, 4, 5)
    assert relay.counters.acked == 5 and relay.counters.sent == 6
    loop.run(relay.stop())
    loop.run(platform.stop())


def test_platform_down_then_up_with_backoff(loop: LoopThread, tmp_path: Path) -> None:
    platform = Platform(free_port())
    relay = Hj212Relay(relay_settings(tmp_path, platform.port))
    loop.run(relay.start())
    loop.call(lambda: relay.enqueue([upload(1), upload(2)]))
    wait_for(lambda: relay.counters.failures >= 3, what="connection failures while the platform is down")
    assert relay.pending == 2
    loop.run(platform.start())
    wait_for(lambda: relay.pending == 0, what="delivery once the platform is up")
    assert platform.received == qns(1, 2)
    loop.run(relay.stop())
    loop.run(platform.stop())


def test_lost_answer_and_hang_up_resend_at_least_once_in_order(loop: LoopThread, tmp_path: Path) -> None:
    platform = Platform(free_port(), drop_answers=1, hang_up_after=3)
    loop.run(platform.start())
    relay = Hj212Relay(relay_settings(tmp_path, platform.port, ack_timeout=0.2))
    loop.run(relay.start())
    loop.call(lambda: relay.enqueue([upload(i) for i in range(4)]))
    wait_for(lambda: relay.pending == 0, what="delivery despite a lost answer and a hang-up")
    delivered = platform.received
    assert delivered[:2] == qns(0, 0)  # the first answer was lost: resent
    assert [q for i, q in enumerate(delivered) if q not in delivered[:i]] == qns(0, 1, 2, 3)  # order kept
    loop.run(relay.stop())
    loop.run(platform.stop())


def test_queue_survives_restart(loop: LoopThread, tmp_path: Path) -> None:
    port = free_port()
    first = Hj212Relay(relay_settings(tmp_path, port))
    loop.run(first.start())
    loop.call(lambda: first.enqueue([upload(7), upload(8)]))
    loop.run(first.stop())
    platform = Platform(port)
    loop.run(platform.start())
    second = Hj212Relay(relay_settings(tmp_path, port))
    assert second.pending == 2
    loop.run(second.start())
    wait_for(lambda: second.pending == 0, what="delivery after restart")
    assert platform.received == qns(7, 8)
    loop.run(second.stop())
    loop.run(platform.stop())


def test_full_queue_drops_oldest(loop: LoopThread, tmp_path: Path) -> None:
    platform = Platform(free_port())
    relay = Hj212Relay(relay_settings(tmp_path, platform.port, max_queue=3))
    loop.call(lambda: relay.enqueue([upload(i) for i in range(5)]))
    assert relay.pending == 3 and relay.counters.dropped == 2
    loop.run(platform.start())
    loop.run(relay.start())
    wait_for(lambda: relay.pending == 0, what="delivery")
    assert platform.received == qns(2, 3, 4)
    loop.run(relay.stop())
    loop.run(platform.stop())


def test_server_relays_the_raw_packets_it_receives(loop: LoopThread, tmp_path: Path) -> None:
    platform = Platform(free_port())
    loop.run(platform.start())
    relay = Hj212Relay(relay_settings(tmp_path, platform.port))
    sink = CommitSink()
    server = Hj212Server("127.0.0.1", 0, sink, relay=relay)
    loop.run(relay.start())
    loop.run(server.start())
    dtu = Dtu(server.port)
    dtu.send(upload(1) + upload(2)[:-2])  # the second comes without its CRLF tail: relayed with one
    wait_for(lambda: platform.received == qns(1, 2), what="relayed upstream")
    wait_for(lambda: len(sink.readings) == 2, what="readings locally")
    dtu.close()
    loop.run(server.stop())
    loop.run(relay.stop())
    loop.run(platform.stop())
    sink.close()
