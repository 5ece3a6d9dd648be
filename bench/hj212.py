"""HJ 212 throughput: packets/s through the codec, and through the TCP server with idle and active DTUs.

    .venv/bin/python bench/hj212.py [--seconds 5] [--idle 500] [--active 50]

The server runs in this process on one event loop with a sink that commits on its own thread every 5 ms
and calls the acks (like the gateway's journal); the DTUs run in a child process. Every packet asks for
a 9014, and the DTUs read them. Figures: packets/s of wall time and per CPU-second of the server process.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.framed_tcp import TcpSettings
from adapters.hj212 import FrameReader, ReadingSettings, encode_packet, parse_segment, to_readings
from adapters.hj212.server import Hj212Server, Hj212ServerSettings
from gateway.model import Ack, Reading, RejectReason

CP = ("DataTime=20240501120000;a34001-Rtd=88.1,a34001-Flag=N;a34002-Rtd=62.7,a34002-Flag=N;"
      "a34004-Rtd=45.0,a34004-Flag=N;LA-Rtd=55.2,LA-Flag=N;a01001-Rtd=21.5,a01001-Flag=N;"
      "a01002-Rtd=45.1,a01002-Flag=N;a01007-Rtd=2.1,a01007-Flag=N;a01008-Rtd=180,a01008-Flag=N")


def packet(i: int, mn: str = "DUST0001") -> bytes:
    """A realistic dust-monitor upload asking for an ack (about 330 bytes framed)."""
    return encode_packet(f"QN=20240501120000{i % 1000:03d};ST=39;CN=2011;PW=123456;MN={mn};Flag=5;CP=&&{CP}&&")


def bench_codec(n: int) -> None:
    """Frame, parse and convert `n` packets arriving 20 to a read."""
    settings = ReadingSettings()
    chunk = b"".join(packet(i) for i in range(20))
    reader = FrameReader()
    start = time.perf_counter()
    count = 0
    for _ in range(n // 20):
        for frame in reader.feed(chunk):
            count += len(to_readings(parse_segment(frame.segment), settings, 0))  # type: ignore[union-attr]
    elapsed = time.perf_counter() - start
    print(f"codec: {count} packets in {elapsed:.2f}s = {count / elapsed:,.0f} packets/s "
          f"(frame + CRC + parse + readings, {len(chunk) // 20} bytes each)")


class ThreadCommitSink:
    """Like the gateway's journal: readings queue up, a thread 'commits' every 5 ms and calls the acks."""

    def __init__(self) -> None:
        self.pending: list[Ack | None] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.count = 0
        threading.Thread(target=self._run, daemon=True).start()

    def submit(self, reading: Reading) -> None:
        """Queue a reading."""
        with self.lock:
            self.pending.append(reading.ack)

    def reject(self, source: str, reason: RejectReason, detail: str, raw: bytes, ack: Ack | None = None) -> None:
        """Queue a rejection."""
        with self.lock:
            self.pending.append(ack)

    def _run(self) -> None:
        while not self.stop.wait(0.005):
            with self.lock:
                batch, self.pending = self.pending, []
            self.count += len(batch)
            for ack in batch:
                if ack is not None:
                    ack()


async def _dtus(port: int, idle: int, active: int, seconds: float, batch: int) -> tuple[int, int]:
    """Open idle and active connections; active ones pipeline batches and read acks."""
    idle_conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(idle)]
    stop = time.monotonic() + seconds
    sent = acked = 0

    async def one(n: int) -> None:
        nonlocal sent, acked
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = b"".join(packet(i, f"DUST{n:04d}") for i in range(batch))
        ack_len = len(b"##0000QN=20240501120000000;ST=91;CN=9014;PW=123456;MN=DUST0000;Flag=4;CP=&&&&0000\r\n")
        while time.monotonic() < stop:
            writer.write(data)
            await writer.drain()
            sent += batch
            await reader.readexactly(ack_len * batch)
            acked += batch
        writer.close()

    await asyncio.gather(*(one(n) for n in range(active)))
    for _, writer in idle_conns:
        writer.close()
    return sent, acked


def _client_main(port: int, idle: int, active: int, seconds: float, batch: int, out: Any) -> None:
    """Child process: run the DTUs and report what they sent and got acked."""
    out.put(asyncio.run(_dtus(port, idle, active, seconds, batch)))


async def bench_server(idle: int, active: int, seconds: float, batch: int) -> None:
    """Serve the DTUs of a child process and measure the server's throughput."""
    sink = ThreadCommitSink()
    server = Hj212Server("127.0.0.1", 0, sink, Hj212ServerSettings(tcp=TcpSettings(max_connections=idle + active + 10)))
    await server.start()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_client_main, args=(server.port, idle, active, seconds, batch, queue))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    child.start()
    sent, acked = await asyncio.to_thread(queue.get, True, seconds + 120)
    elapsed = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    child.join()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    packets = server.counters.packets
    print(f"server: {idle} idle + {active} active connections, peak open {server.counters.connections_total}; "
          f"{packets} packets, {server.counters.acks} acks (DTUs sent {sent}, got {acked} acks) in {elapsed:.1f}s")
    print(f"server: {packets / elapsed:,.0f} packets/s wall; {packets / cpu:,.0f} packets per CPU-second of the "
          f"server process (CPU {cpu:.1f}s incl. connection setup and the sink thread)")
    sink.stop.set()
    await server.stop()


def main() -> None:
    """Run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=40_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--active", type=int, default=50)
    parser.add_argument("--batch", type=int, default=20, help="packets each active DTU sends before reading acks")
    args = parser.parse_args()
    bench_codec(args.packets)
    asyncio.run(bench_server(args.idle, args.active, args.seconds, args.batch))


if __name__ == "__main__":
    main()
