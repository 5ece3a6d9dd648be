"""Live status events for Server-Sent Events clients: publish from any thread, fan out on the event loop.

Each event gets a sequence number (the SSE `id`); the last `keep` events stay in a ring so a client that
reconnects with `Last-Event-ID` gets what it missed. Every client has a bounded queue; a client that falls
that far behind is cut off (counted) and catches up from the ring when its browser reconnects.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["EventHub", "StatusEvent", "Subscriber"]

KEEP_EVENTS = 512
"""Events kept for clients that reconnect with Last-Event-ID."""
CLIENT_QUEUE = 256
"""Events one client may lag behind before it is cut off."""
MAX_CLIENTS = 32
"""Concurrent SSE clients; more are refused with 503 (a box serves a few screens, not the public)."""


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One live event: its sequence number, kind (incident, device, camera) and JSON-ready data."""

    seq: int
    kind: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        """The event in SSE wire format."""
        body = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        return f"id: {self.seq}\nevent: {self.kind}\ndata: {body}\n\n".encode()


class Subscriber:
    """One SSE client's queue; `None` in it means the stream ends (overflow or shutdown)."""

    def __init__(self, capacity: int) -> None:
        self.queue: asyncio.Queue[StatusEvent | None] = asyncio.Queue(capacity + 1)
        self.capacity = capacity
        self.overflowed = False
        self.after = 0
        """Events up to this sequence number were published before the client joined (or came as `missed`)."""

    def offer(self, event: StatusEvent) -> bool:
        """Queue an event; False (and the stream is ended) when the client is too far behind."""
        if self.overflowed:
            return False
        if event.seq <= self.after:
            return True
        if self.queue.qsize() >= self.capacity:
            self.overflowed = True
            self.queue.put_nowait(None)
            return False
        self.queue.put_nowait(event)
        return True


class EventHub:
    """Sequence-numbered events, a replay ring, and the connected clients."""

    def __init__(self, keep: int = KEEP_EVENTS, client_queue: int = CLIENT_QUEUE, max_clients: int = MAX_CLIENTS):
        self._lock = threading.Lock()
        self._ring: deque[StatusEvent] = deque(maxlen=keep)
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: set[Subscriber] = set()
        self.client_queue = client_queue
        self.max_clients = max_clients
        self.published = 0
        self.cut_off = 0
        """Clients cut off because they fell more than `client_queue` events behind."""

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fan events out on this loop from now on (the API's loop, at startup)."""
        self._loop = loop

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Publish an event; safe from any thread (the journal's committer, the event loop)."""
        with self._lock:
            self._seq += 1
            event = StatusEvent(self._seq, kind, data)
            self._ring.append(event)
            self.published += 1
            loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fan_out, event)

    def _fan_out(self, event: StatusEvent) -> None:
        for client in list(self._clients):
            if not client.offer(event):
                self._clients.discard(client)
                self.cut_off += 1

    def subscribe(self, last_id: int | None = None) -> tuple[Subscriber, list[StatusEvent]] | None:
        """A new client and the events after `last_id` it missed; None when too many clients are connected."""
        if len(self._clients) >= self.max_clients:
            return None
        client = Subscriber(self.client_queue)
        self._clients.add(client)
        with self._lock:
            missed = [e for e in self._ring if last_id is not None and e.seq > last_id]
            client.after = self._seq
        return client, missed

    def unsubscribe(self, client: Subscriber) -> None:
        """Forget a client whose stream ended."""
        self._clients.discard(client)

    def close(self) -> None:
        """End every client's stream (on shutdown, so the server does not wait for them)."""
        for client in list(self._clients):
            client.queue.put_nowait(None)
        self._clients.clear()

    @property
    def clients(self) -> int:
        """Connected clients now."""
        return len(self._clients)
