"""Retry helpers shared by the HTTP outputs (InfluxDB writer, webhook delivery): jittered backoff and
`Retry-After`."""

from __future__ import annotations

import math
import random
from email.utils import parsedate_to_datetime


def jittered_backoff(n: int, first: float, cap: float, rng: random.Random) -> float:
    """The delay before retry `n` (0-based): capped exponential with "equal jitter", uniform in [d/2, d],
    d = first * 2^n up to cap, so a fleet of gateways does not retry in lockstep."""
    ceiling = min(cap, first * 2.0 ** min(max(n, 0), 62))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, now_s: float) -> float | None:
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
        seconds = when.timestamp() - now_s
    return None if math.isnan(seconds) else max(0.0, seconds)
