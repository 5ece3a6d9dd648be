"""Upstream relay: forward raw HJ 212 packets to a provincial platform as a TCP client, from a durable queue.

Packets are stored in a small SQLite table first (WAL), then sent in order; a packet whose Flag asks for
an answer is deleted only after the platform's 9014 with its QN (at-least-once: a lost answer means a
resend, duplicates are the platform's to drop). Other packets are deleted once written to the socket.
A lost connection is retried with capped exponential backoff. When the queue is full the oldest packets
are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.hj212.framing import Frame, FrameReader, split_packet
from adapters.hj212.packet import parse_segment
from gateway.model import Rejected

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """Where and how to forward."""

    host: str
    """The platform's address."""
    port: int
    """The platform's HJ 212 port."""
    queue_path: Path
    """The SQLite file of the relay's queue (its own file; created when missing)."""
    max_queue: int = 100_000
    """Packets kept at most; when full the oldest are dropped (counted in `dropped`)."""
    min_backoff: float = 1.0
    """First reconnect delay in seconds; doubles per failure up to `max_backoff`."""
    max_backoff: float = 60.0
    """Longest reconnect delay in seconds."""
    ack_timeout: float = 10.0
    """Seconds to wait for the platform's 9014 (Table 1: 10 s over GPRS/4G)."""
    retries: int = 3
    """Sends of one packet per connection before reconnecting (Table 1: 3)."""
    connect_timeout: float = 10.0
    """Seconds allowed to connect."""


@dataclass(slots=True)
class RelayCounters:
    """What the relay has done."""

    sent: int = 0
    acked: int = 0
    dropped: int = 0
    connects: int = 0
    failures: int = 0
    lost: int = 0
    """Packets that could not be stored in the queue (SQLite error)."""


class RelayQueue:
    """The durable FIFO of raw packets (one SQLite table, WAL, committed per batch)."""

    def __init__(self, path: Path, max_rows: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS relay (id INTEGER PRIMARY KEY AUTOINCREMENT, raw BLOB NOT NULL)")
        self.size = int(self.db.execute("SELECT count(*) FROM relay").fetchone()[0])

    def put(self, packets: list[bytes]) -> int:
        """Append packets in one transaction; returns how many old packets were dropped to make room."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO relay (raw) VALUES (?)", [(p,) for p in packets])
            excess = max(0, self.size + len(packets) - self.max_rows)
            if excess:
                self.db.execute("DELETE FROM relay WHERE id IN (SELECT id FROM relay ORDER BY id LIMIT ?)", (excess,))
        self.size += len(packets) - excess
        return excess

    def head(self) -> tuple[int, bytes] | None:
        """The oldest packet, or None when empty."""
        row = self.db.execute("SELECT id, raw FROM relay ORDER BY id LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def remove(self, row_id: int) -> None:
        """Delete a delivered packet."""
        deleted = self.db.execute("DELETE FROM relay WHERE id = ?", (row_id,)).rowcount
        self.size -= deleted

    def close(self) -> None:
        """Close the database."""
        self.db.close()


def wants_ack(raw: bytes) -> tuple[bool, str | None]:
    """Whether a packet's Flag asks for a 9014, and its QN (a packet that does not parse wants none)."""
    try:
        packet = parse_segment(split_packet(raw).segment)
    except Rejected:
        return False, None
    return packet.ack_requested, packet.qn


class Hj212Relay:
    """Forwards raw packets upstream; `enqueue` is durable on return, the sending runs as a task."""

    def __init__(self, settings: RelaySettings, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.settings = settings
        self.queue = RelayQueue(settings.queue_path, settings.max_queue)
        self.counters = RelayCounters()
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def enqueue(self, packets: list[bytes]) -> None:
        """Store packets for forwarding, in order (call on the event loop)."""
        try:
            dropped = self.queue.put(packets)
        except sqlite3.Error as exc:  # disk full or broken file: the local flow goes on, the loss is counted
            self.counters.lost += len(packets)
            log.error("hj212 relay queue: cannot store %d packets: %s", len(packets), exc)
            return
        if dropped:
            self.counters.dropped += dropped
            log.warning("hj212 relay queue full (%d): dropped the %d oldest packets", self.queue.max_rows, dropped)
        self._wake.set()

    @property
    def pending(self) -> int:
        """Packets waiting to be delivered."""
        return self.queue.size

    async def start(self) -> None:
        """Start forwarding."""
        self._task = asyncio.create_task(self._run(), name="hj212-relay")

    async def stop(self) -> None:
        """Stop forwarding (undelivered packets stay queued for the next start) and close the queue."""
        self._stopping = True
        task, self._task = self._task, None
        # Python 3.11's wait_for can swallow a cancellation that races a connect error: cancel until done.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        self.queue.close()

    async def _run(self) -> None:
        """Connect, deliver, and reconnect with capped exponential backoff."""
        delay = self.settings.min_backoff
        while not self._stopping:
            await self._wait_for_work()
            try:
                delivered = await self._session()
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                self.counters.failures += 1
                log.info("hj212 relay to %s:%d failed (%s); retrying in %.1fs",
                         self.settings.host, self.settings.port, exc, delay)
                delivered = False
            if delivered:
                delay = self.settings.min_backoff
                continue
            await self._sleep(delay)
            delay = min(delay * 2, self.settings.max_backoff)

    async def _wait_for_work(self) -> None:
        """Wait until something is queued."""
        while self.queue.size == 0:
            self._wake.clear()
            await self._wake.wait()

    async def _session(self) -> bool:
        """One connection: send until the queue is empty; False when a packet could not be delivered."""
        settings = self.settings
        reader, writer = await asyncio.wait_for(asyncio.open_connection(settings.host, settings.port),
                                                settings.connect_timeout)
        self.counters.connects += 1
        frames = FrameReader()
        try:
            while (head := self.queue.head()) is not None:
                if not await self._deliver(head[1], reader, writer, frames):
                    return False
                self.queue.remove(head[0])
            return True
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def _deliver(self, raw: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       frames: FrameReader) -> bool:
        """Send one packet (and resend up to `retries` times while its 9014 does not come)."""
        ack, qn = wants_ack(raw)
        for _ in range(max(1, self.settings.retries)):
            writer.write(raw)
            await writer.drain()
            self.counters.sent += 1
            if not ack:
                return True
            try:
                await asyncio.wait_for(self._answer(qn, reader, frames), self.settings.ack_timeout)
            except TimeoutError:
                continue
            self.counters.acked += 1
            return True
        return False

    @staticmethod
    async def _answer(qn: str | None, reader: asyncio.StreamReader, frames: FrameReader) -> None:
        """Read until the platform answers 9014 for `qn` (any 9014 when the packet had no QN)."""
        while True:
            data = await reader.read(4096)
            if not data:
                raise ConnectionError("platform closed the connection")
            for item in frames.feed(data):
                if isinstance(item, Frame) and _is_answer(item, qn):
                    return


def _is_answer(frame: Frame, qn: str | None) -> bool:
    """Whether a frame is the 9014 for `qn`."""
    try:
        packet = parse_segment(frame.segment)
    except Rejected:
        return False
    return packet.cn == "9014" and (qn is None or packet.qn == qn)
