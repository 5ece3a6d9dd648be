"""The webhook output's counters, for the status page and the gateway's own metrics."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = ["DispatchStats"]

LATENCY_WINDOW = 4096
"""How many recent latencies are kept for percentiles."""


def percentile(samples: deque[float], pct: float) -> float | None:
    """The nearest-rank percentile (0..100) of the samples, or None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


@dataclass(slots=True)
class DispatchStats:
    """What the delivery worker has done since start, per endpoint where it matters."""

    delivered: Counter[str] = field(default_factory=Counter)
    """Events delivered, by endpoint."""
    attempts: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    """Failed attempts that will be retried, by endpoint."""
    by_status: Counter[str] = field(default_factory=Counter)
    """Attempts by HTTP status or transport failure (timeout, connection, disconnected)."""
    dead: Counter[str] = field(default_factory=Counter)
    """Dead letters by reason (max_age, http_400, …)."""
    failovers: int = 0
    disabled: dict[str, str] = field(default_factory=dict)
    """Endpoint -> why it is disabled."""
    latency: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    """Seconds from enqueue to the receiver's 2xx, most recent last."""
    request_latency: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    last_error: str = ""

    def fields(self) -> dict[str, float]:
        """Numeric fields for the gateway's metrics measurement, prefixed `dispatch_`."""
        out = {
            "dispatch_delivered": float(sum(self.delivered.values())),
            "dispatch_attempts": float(sum(self.attempts.values())),
            "dispatch_retries": float(sum(self.retries.values())),
            "dispatch_dead_letters": float(sum(self.dead.values())),
            "dispatch_failovers": float(self.failovers),
            "dispatch_disabled_endpoints": float(len(self.disabled)),
        }
        for pct in (50, 99):
            value = percentile(self.latency, pct)
            if value is not None:
                out[f"dispatch_latency_p{pct}_ms"] = value * 1000
        out.update({f"dispatch_status_{k}": float(v) for k, v in self.by_status.items()})
        return out
