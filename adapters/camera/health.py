"""Supervision policy, pure and driven by the caller's clock: restart backoff and the stall watchdog."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff", "Watchdog"]


@dataclass(slots=True)
class Backoff:
    """Capped exponential delays: min, 2×min, 4×min… up to max; `reset` after a healthy run."""

    min_s: float
    max_s: float
    factor: float = 2.0
    attempt: int = 0

    def next(self) -> float:
        """The delay before the next restart (and count the attempt)."""
        delay = min(self.max_s, self.min_s * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from the minimum delay."""
        self.attempt = 0


@dataclass(slots=True)
class Watchdog:
    """Fires when no progress (a new frame) was seen for `stall_s` since the start or the last progress."""

    stall_s: float
    last: float = 0.0
    first_frame: float | None = None

    def start(self, now: float) -> None:
        """A new worker started: the clock starts from now (opening the source counts against it)."""
        self.last = now
        self.first_frame = None

    def progress(self, now: float) -> None:
        """A new frame was decoded."""
        self.last = now
        if self.first_frame is None:
            self.first_frame = now

    def stalled(self, now: float) -> bool:
        """Whether the worker has made no progress for too long."""
        return now - self.last > self.stall_s

    def healthy_for(self, now: float) -> float:
        """Seconds since the first frame of this run (0 when none came)."""
        return 0.0 if self.first_frame is None else now - self.first_frame
