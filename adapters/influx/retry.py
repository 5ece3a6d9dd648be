"""When to try again: capped exponential backoff with jitter, and the server's `Retry-After`."""

from __future__ import annotations

import random

from adapters.http_retry import jittered_backoff, parse_retry_after

__all__ = ["Backoff", "parse_retry_after"]


class Backoff:
    """Capped exponential backoff with "equal jitter": each delay is uniform in [d/2, d], d doubling up to a cap."""

    def __init__(self, first: float, cap: float, rng: random.Random | None = None) -> None:
        self.first = first
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt; grows with each call until `reset`."""
        delay = jittered_backoff(self.attempt, self.first, self.cap, self._rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from the first delay (after a success)."""
        self.attempt = 0
