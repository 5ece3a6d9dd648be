"""Test kit for the HJ 212 and SL 651 servers: a committing sink, a server loop thread, a fake DTU (plus checks)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.model import Ack, Reading, RejectReason
from tests.servers import wait_for


@dataclass
class Rejection:
    """One rejection the sink took."""

    source: str
    reason: RejectReason
    detail: str
    raw: bytes


@dataclass
class CommitSink:
    """A ReadingSink like the gateway's: a committer thread commits every `interval` s, then acks in order.

    `gate` lets a test hold commits back to prove that nothing is acknowledged before its commit.
    """

    interval: float = 0.005
    readings: list[Reading] = field(default_factory=list)
    rejects: list[Rejection] = field(default_factory=list)
    committed: int = 0
    gate: threading.Event = field(default_factory=threading.Event)
    _pending: list[Ack | None] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.gate.set()
        self._thread = threading.Thread(target=self._commit_forever, name="commit-sink", daemon=True)
        self._thread.start()

    def submit(self, reading: Reading) -> None:
        """Queue a reading for the next commit."""
        with self._lock:
            self.readings.append(reading)
            self._pending.append(reading.ack)

    def reject(self, source: str, reason: RejectReason, detail: str, raw: bytes, ack: Ack | None = None) -> None:
        """Queue a rejection for the next commit."""
        with self._lock:
            self.rejects.append(Rejection(source, reason, detail, raw))
            self._pending.append(ack)

    def reasons(self) -> list[RejectReason]:
        """The reasons of the rejections so far."""
        with self._lock:
            return [r.reason for r in self.rejects]

    def close(self) -> None:
        """Stop the committer thread."""
        self._stop.set()
        self.gate.set()
        if self._thread is not None:
            self._thread.join(5)

    def _commit_forever(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if not self.gate.is_set():
                    continue
                batch, self._pending = self._pending, []
                self.committed += len(batch)
            for ack in batch:
                if ack is not None:
                    ack()


class Startable(Protocol):
    """A server with async start/stop."""

    async def start(self) -> None:
        """Start."""

    async def stop(self) -> None:
        """Stop."""


class LoopThread:
    """An asyncio loop in a thread, like the gateway's, so tests can use plain sockets and `wait_for`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="server-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        """Run a coroutine on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, func: Callable[[], Any]) -> Any:
        """Run a function on the loop thread and return its result."""

        async def wrapper() -> Any:
            return func()

        return self.run(wrapper())

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Dtu:
    """A fake DTU: a TCP client that sends bytes and collects what comes back."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.received = bytearray()
        self.eof = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read_forever, daemon=True)
        self._thread.start()

    def send(self, data: bytes) -> None:
        """Send bytes."""
        self.sock.sendall(data)

    def data(self) -> bytes:
        """Everything received so far."""
        with self._lock:
            return bytes(self.received)

    def wait_closed(self, timeout: float = 10.0) -> None:
        """Wait until the server closes the connection."""
        wait_for(lambda: self.eof, timeout, "the server to close the connection")

    def close(self) -> None:
        """Close the socket (shutdown first: it wakes the reader thread and sends FIN at once)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(10)

    def _read_forever(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                return
            with self._lock:
                self.received += chunk


def test_commit_sink_acks_in_order_after_commit() -> None:
    sink = CommitSink()
    order: list[int] = []
    sink.gate.clear()
    for i in range(3):
        sink.submit(Reading("d", "dust", i, {"v": i}, ack=lambda i=i: order.append(i)))  # type: ignore[misc]
    sink.reject("s", RejectReason.MALFORMED, "x", b"", ack=lambda: order.append(99))
    assert order == [] and sink.committed == 0
    sink.gate.set()
    wait_for(lambda: len(order) == 4, what="acks")
    assert order == [0, 1, 2, 99]
    sink.close()
