"""What the writer drains: the journal's view as a `Spool`, and a bounded in-memory one for tests and benchmarks."""

from __future__ import annotations

from collections import deque
from typing import Protocol

__all__ = ["MemorySpool", "Row", "Spool"]

Row = tuple[int, str]
"""A journal row: its rowid (increasing) and one line of line protocol."""


class Spool(Protocol):
    """The store-and-forward queue the writer drains in order (the journal implements it per sink)."""

    def pending(self, sink: str, limit: int) -> list[Row]:
        """Up to `limit` rows not yet landed nor rejected for this sink, oldest first."""

    def landed(self, sink: str, upto_rowid: int) -> None:
        """Mark every row up to and including `upto_rowid` as written for this sink."""

    def rejected(self, sink: str, rows: list[Row], reason: str) -> None:
        """Dead-letter rows the server refused, with the server's own error text."""


class MemorySpool:
    """A bounded in-memory `Spool` for one or more sinks: for tests, benchmarks and metrics that need no durability.

    Full policy: `append` raises OverflowError when `capacity` rows are held; the caller decides.
    """

    def __init__(self, capacity: int = 1_000_000, sinks: tuple[str, ...] = ("influx",)) -> None:
        self.capacity = capacity
        self._rows: deque[Row] = deque()
        self._last_rowid = 0
        self._landed: dict[str, int] = dict.fromkeys(sinks, 0)
        self._dead_ids: dict[str, set[int]] = {}
        self.dead: deque[tuple[str, Row, str]] = deque(maxlen=capacity)
        """Dead-lettered rows as (sink, row, reason), oldest dropped first when full."""

    def append(self, line: str) -> int:
        """Add a line, return its rowid; raise OverflowError when full."""
        if len(self._rows) >= self.capacity:
            raise OverflowError(f"memory spool full ({self.capacity} rows held)")
        self._last_rowid += 1
        self._rows.append((self._last_rowid, line))
        return self._last_rowid

    def extend(self, lines: list[str]) -> None:
        """Add many lines in order."""
        for line in lines:
            self.append(line)

    def landed_upto(self, sink: str) -> int:
        """The highest rowid this sink has landed (0 when none)."""
        return self._landed.get(sink, 0)

    def pending(self, sink: str, limit: int) -> list[Row]:
        """Up to `limit` rows after this sink's landed mark, skipping its dead-lettered ones, oldest first."""
        upto = self.landed_upto(sink)
        dead = self._dead_ids.get(sink, set())
        out: list[Row] = []
        for row in self._rows:
            if row[0] > upto and row[0] not in dead:
                out.append(row)
                if len(out) >= limit:
                    break
        return out

    def landed(self, sink: str, upto_rowid: int) -> None:
        """Advance this sink's mark; forget rows every sink has passed."""
        self._landed[sink] = max(upto_rowid, self.landed_upto(sink))
        dead = self._dead_ids.get(sink, set())
        dead.difference_update([rowid for rowid in dead if rowid <= upto_rowid])
        floor = min(self._landed.values())
        while self._rows and self._rows[0][0] <= floor:
            self._rows.popleft()

    def rejected(self, sink: str, rows: list[Row], reason: str) -> None:
        """Dead-letter refused rows for this sink, with their reason."""
        self._dead_ids.setdefault(sink, set()).update(rowid for rowid, _ in rows)
        self.dead.extend((sink, row, reason) for row in rows)

    def depth(self, sink: str) -> int:
        """How many rows this sink has neither landed nor dead-lettered."""
        upto = self.landed_upto(sink)
        return self._last_rowid - upto - len(self._dead_ids.get(sink, set()))
