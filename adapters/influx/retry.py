"""When to try again: capped exponential backoff with jitter, and the server's `Retry-After`."""

from __future__ import annotations

import math
import random
from email.utils import parsedate_to_datetime

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
        ceiling = min(self.cap, self.first * 2.0 ** min(self.attempt, 62))
        self.attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """Start again from the first delay (after a success)."""
        self.attempt = 0


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date, RFC 9110 10.2.3); None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now_epoch
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)
