"""A framed TCP input server shared by HJ 212 and SL 651: connections, limits, idle timeout, counters.

The protocol-specific part is a `FrameHandler`: it makes a frame reader per connection and handles each
frame. Garbage the reader reports is rejected to the sink here; a connection that sends nothing but garbage
for `max_garbage` bytes, or nothing at all for `idle_timeout` seconds, is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.hj212.framing import Garbage
from gateway.model import ReadingSink, RejectReason

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class TcpSettings:
    """Limits of a TCP input; the full policy of each is documented with it."""

    idle_timeout: float = 600.0
    """Seconds without a byte before a connection is closed (DTUs reconnect on their own)."""
    max_connections: int = 2000
    """Open connections allowed; one more is accepted and closed at once (counted as refused)."""
    max_garbage: int = 65536
    """Bytes of consecutive non-frame input after which a connection is closed (a frame resets it)."""
    sweep_interval: float = 5.0
    """Seconds between idle-connection sweeps."""

    def __post_init__(self) -> None:
        if self.idle_timeout <= 0 or self.max_connections < 1 or self.max_garbage < 1 or self.sweep_interval <= 0:
            raise ValueError("idle_timeout, sweep_interval, max_connections and max_garbage must be positive")


@dataclass(slots=True)
class InputCounters:
    """What an input has seen; `rejects` is by reason."""

    connections_open: int = 0
    connections_total: int = 0
    connections_refused: int = 0
    idle_closed: int = 0
    garbage_closed: int = 0
    bytes_in: int = 0
    packets: int = 0
    readings: int = 0
    acks: int = 0
    anomalies: int = 0
    rejects: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, int]:
        """Flat counters for metrics (`rejects_<reason>` per reason)."""
        flat = {name: getattr(self, name) for name in _COUNTER_NAMES}
        flat.update({f"rejects_{reason}": count for reason, count in self.rejects.items()})
        return flat


_COUNTER_NAMES = ("connections_open", "connections_total", "connections_refused", "idle_closed", "garbage_closed",
                  "bytes_in", "packets", "readings", "acks", "anomalies")


class FrameReaderLike(Protocol):
    """An incremental reader: bytes in, completed frames and garbage out."""

    def feed(self, data: bytes) -> Sequence[Any]:
        """Take bytes; return what they complete."""


class FrameHandler(Protocol):
    """The protocol-specific half of a server."""

    def new_reader(self) -> FrameReaderLike:
        """A reader for a new connection."""

    def handle(self, conn: Connection, frame: Any) -> None:
        """Handle one good frame of a connection (runs on the event loop)."""


class Connection:
    """One client connection: its transport, reader, activity time and a thread-safe send."""

    __slots__ = ("closed", "device", "garbage_run", "last_rx", "peer", "reader", "server", "transport")

    def __init__(self, server: TcpInput, transport: asyncio.Transport, reader: FrameReaderLike) -> None:
        self.server = server
        self.transport = transport
        self.reader = reader
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.last_rx = server.clock()
        self.garbage_run = 0
        self.device = ""
        """The device id last seen on this connection (for messages and reject sources)."""
        self.closed = False

    @property
    def source(self) -> str:
        """The reject source: protocol, peer and the device when known."""
        name = self.server.name
        return f"{name}:{self.device}@{self.peer}" if self.device else f"{name}:{self.peer}"

    def send(self, data: bytes) -> None:
        """Write a reply (event-loop thread); dropped when the connection has gone."""
        if not self.closed and not self.transport.is_closing():
            self.transport.write(data)
            self.server.counters.acks += 1

    def send_threadsafe(self, data: bytes) -> None:
        """Write a reply from any thread (the gateway's committer calls acks from its own thread)."""
        self.server.post(self, data)

    def close(self) -> None:
        """Close the connection (replies still pending are dropped)."""
        self.closed = True
        self.transport.close()


class _Protocol(asyncio.Protocol):
    """asyncio glue: feeds received bytes to the connection's reader and hands the results to the server."""

    def __init__(self, server: TcpInput) -> None:
        self.server = server
        self.conn: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.conn = self.server.opened(transport)

    def data_received(self, data: bytes) -> None:
        if self.conn is not None:
            self.server.received(self.conn, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.server.lost(self.conn)


class TcpInput:
    """A TCP server that frames each connection's bytes and hands frames to a protocol handler."""

    def __init__(self, name: str, host: str, port: int, sink: ReadingSink, handler: FrameHandler,
                 settings: TcpSettings | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.host = host
        self.requested_port = port
        self.sink = sink
        self.handler = handler
        self.settings = settings or TcpSettings()
        self.clock = clock
        self.counters = InputCounters()
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: deque[tuple[Connection, bytes]] = deque()
        self._flush_scheduled = False

    @property
    def port(self) -> int:
        """The port listened on (useful when started on port 0)."""
        if self._server is None or not self._server.sockets:
            return self.requested_port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen and start the idle sweeper."""
        loop = self._loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Protocol(self), self.host, self.requested_port,
                                                backlog=1024, reuse_address=True)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name=f"{self.name}-idle-sweeper")
        log.info("%s listening on %s:%d", self.name, self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, close every connection and wait for the server to finish."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            self._server.close()
            for conn in list(self.connections):
                conn.close()
            await self._server.wait_closed()
            self._server = None

    def opened(self, transport: asyncio.Transport) -> Connection | None:
        """Admit a connection, or close it when the limit is reached."""
        if len(self.connections) >= self.settings.max_connections:
            self.counters.connections_refused += 1
            transport.close()
            return None
        conn = Connection(self, transport, self.handler.new_reader())
        self.connections.add(conn)
        self.counters.connections_open = len(self.connections)
        self.counters.connections_total += 1
        return conn

    def lost(self, conn: Connection) -> None:
        """Forget a closed connection."""
        conn.closed = True
        self.connections.discard(conn)
        self.counters.connections_open = len(self.connections)

    def received(self, conn: Connection, data: bytes) -> None:
        """Frame the bytes; hand frames to the handler and reject garbage (closing persistent garbage)."""
        conn.last_rx = self.clock()
        self.counters.bytes_in += len(data)
        for item in conn.reader.feed(data):
            if isinstance(item, Garbage):
                self._garbage(conn, item)
            else:
                conn.garbage_run = 0
                self._handle(conn, item)
            if conn.closed:
                return

    def _handle(self, conn: Connection, frame: Any) -> None:
        """Hand a frame to the handler; a bug there rejects that frame instead of killing the connection."""
        try:
            self.handler.handle(conn, frame)
        except Exception as exc:  # a bad packet must never stop the flow (DESIGN: bad input)
            log.exception("%s: internal error handling a frame from %s", self.name, conn.source)
            raw = getattr(frame, "raw", b"")
            self.reject(conn, RejectReason.MALFORMED, f"internal error: {exc!r}", raw[:256])

    def post(self, conn: Connection, data: bytes) -> None:
        """Queue a reply from any thread; one loop wake-up writes every reply queued meanwhile, in order."""
        self._outbox.append((conn, data))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            with contextlib.suppress(RuntimeError):  # a closed loop: the server is gone, nothing to reply on
                self._loop_or_raise().call_soon_threadsafe(self._flush)

    def _loop_or_raise(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on."""
        if self._loop is None:
            raise RuntimeError("server not started")
        return self._loop

    def _flush(self) -> None:
        """Write queued replies, joined per connection (event-loop thread)."""
        self._flush_scheduled = False
        outbox = self._outbox
        batches: dict[Connection, list[bytes]] = {}
        while outbox:
            conn, data = outbox.popleft()
            batches.setdefault(conn, []).append(data)
        for conn, parts in batches.items():
            if not conn.closed and not conn.transport.is_closing():
                conn.transport.write(b"".join(parts))
                self.counters.acks += len(parts)

    def reject(self, conn: Connection, reason: RejectReason, detail: str, raw: bytes,
               ack: Callable[[], None] | None = None) -> None:
        """Count a rejection and hand it to the sink."""
        self.counters.rejects[reason.value] += 1
        self.sink.reject(conn.source, reason, detail, raw, ack)

    def _garbage(self, conn: Connection, item: Garbage) -> None:
        """Reject a garbage entry; close the connection once it has sent too much garbage in a row."""
        self.reject(conn, item.reason, item.detail, item.sample)
        conn.garbage_run += item.size
        if conn.garbage_run >= self.settings.max_garbage:
            self.counters.garbage_closed += 1
            log.info("%s: closing %s after %d bytes without a frame", self.name, conn.source, conn.garbage_run)
            conn.close()

    def sweep_idle(self) -> int:
        """Close connections idle longer than `idle_timeout`; returns how many were closed."""
        limit = self.clock() - self.settings.idle_timeout
        idle = [conn for conn in self.connections if conn.last_rx < limit and not conn.closed]
        for conn in idle:
            self.counters.idle_closed += 1
            conn.close()
        return len(idle)

    async def _sweep_forever(self) -> None:
        """Sweep idle connections every `sweep_interval` seconds."""
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            self.sweep_idle()


class FramedTcpServer:
    """What a protocol server shares: a `TcpInput` it delegates listening, counters and lifecycle to."""

    input: TcpInput

    @property
    def port(self) -> int:
        """The port listened on."""
        return self.input.port

    @property
    def counters(self) -> InputCounters:
        """Connections, packets, readings, acks and rejects by reason."""
        return self.input.counters

    async def start(self) -> None:
        """Start listening."""
        await self.input.start()

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        await self.input.stop()
