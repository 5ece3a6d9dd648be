"""What a delivery attempt's result means: delivered, retry (when), dead-letter, or disable the endpoint."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from adapters.http_retry import jittered_backoff, parse_retry_after

__all__ = ["Attempt", "Outcome", "backoff", "classify", "parse_retry_after"]


class Outcome(Enum):
    """The decision after one attempt."""

    DELIVERED = "delivered"
    UNAVAILABLE = "unavailable"
    """The receiver is not taking requests now (connection, timeout, 429, 503): the endpoint backs off."""
    FAILED = "failed"
    """This request failed (other 5xx, 3xx not followed, 408): the event retries with its own backoff."""
    REJECTED = "rejected"
    """The receiver refused this event for good (other 4xx): dead-letter it at once."""
    GONE = "gone"
    """410: the endpoint no longer exists; disable it."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt: the status (None when no response came) or the error, and any Retry-After."""

    status: int | None
    error: str = ""
    retry_after: float | None = None
    seconds: float = 0.0

    @property
    def label(self) -> str:
        """The status code, or the kind of transport failure, for counters."""
        return str(self.status) if self.status is not None else self.error.split(":", 1)[0]


def classify(attempt: Attempt) -> Outcome:
    """Map an attempt to an outcome (3xx is never followed: a webhook URL that redirects is misconfigured)."""
    status = attempt.status
    if status is None or status in (429, 503):
        return Outcome.UNAVAILABLE
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status == 410:
        return Outcome.GONE
    if 400 <= status < 500 and status != 408:
        return Outcome.REJECTED
    return Outcome.FAILED


def backoff(attempt: int, first: float, cap: float, rng: random.Random) -> float:
    """Capped exponential delay with "equal jitter": uniform in [d/2, d], d = first * 2^(attempt-1) up to cap."""
    return jittered_backoff(attempt - 1, first, cap, rng)

