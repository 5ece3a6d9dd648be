"""The worker's bounded outbox to the gateway: a sender thread, status dropped first, detections wait a little.

Full policy: a droppable message (status, preview) is dropped when the box is full; a detection first
evicts the oldest queued droppable message, else waits up to its timeout for room, then is dropped.
Every drop is counted by kind. The camera loop therefore never blocks longer than the timeout.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Outbox"]


@dataclass(slots=True)
class _Item:
    """A queued message and whether it may be dropped under pressure."""

    message: object
    kind: str
    droppable: bool


class Outbox:
    """A bounded queue drained by a thread calling `send` (e.g. a pipe's `Connection.send`)."""

    def __init__(self, send: Callable[[object], None], capacity: int = 64, name: str = "camera-outbox") -> None:
        if capacity < 1:
            raise ValueError("outbox capacity must be at least 1")
        self._send = send
        self.capacity = capacity
        self._items: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.broken: BaseException | None = None
        """Set when `send` failed (the gateway went away); later offers are dropped."""
        self.dropped: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, message: object, kind: str, droppable: bool, timeout: float = 0.0) -> bool:
        """Queue a message; False (and counted) when it had to be dropped."""
        with self._cond:
            if self._closed or self.broken is not None:
                self.dropped[kind] += 1
                return False
            if len(self._items) >= self.capacity and not droppable:
                self._evict_droppable()
                self._cond.wait_for(lambda: len(self._items) < self.capacity or self._stopped(), timeout)
            if len(self._items) >= self.capacity or self._stopped():
                self.dropped[kind] += 1
                return False
            self._items.append(_Item(message, kind, droppable))
            self._cond.notify_all()
            return True

    def _stopped(self) -> bool:
        """Whether nothing more will be sent."""
        return self._closed or self.broken is not None

    def _evict_droppable(self) -> None:
        """Drop the oldest queued droppable message to make room for one that matters more."""
        for item in self._items:
            if item.droppable:
                self._items.remove(item)
                self.dropped[item.kind] += 1
                return

    def pending(self) -> int:
        """Messages queued and not yet handed to `send`."""
        with self._cond:
            return len(self._items) + self._busy

    def close(self, timeout: float = 2.0) -> bool:
        """Send what is queued (waiting up to `timeout`), then stop; True when everything went out."""
        with self._cond:
            self._cond.wait_for(lambda: (not self._items and not self._busy) or self.broken is not None, timeout)
            flushed = not self._items and not self._busy
            self.dropped.update(item.kind for item in self._items)
            self._items.clear()
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=max(timeout, 0.1))
        return flushed

    def _run(self) -> None:
        """Hand queued messages to `send` in order until closed or broken."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._items) or self._closed)
                if not self._items:
                    return
                item = self._items.popleft()
                self._busy = True
                self._cond.notify_all()
            try:
                self._send(item.message)
            except (OSError, EOFError, ValueError) as exc:
                with self._cond:
                    self.broken = exc
                    self._busy = False
                    self.dropped[item.kind] += 1
                    self._cond.notify_all()
                return
            with self._cond:
                self._busy = False
                self.sent[item.kind] += 1
                self._cond.notify_all()
