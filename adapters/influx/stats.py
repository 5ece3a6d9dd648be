"""The writer's counters and gauges, readable by the status page and the gateway's own metrics."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = ["WriterStats"]

LATENCY_WINDOW = 1024
"""How many recent write latencies are kept for percentiles."""


@dataclass(slots=True)
class WriterStats:
    """What one InfluxDB writer has done: points, batches, retries, rejects by reason, latency and lag."""

    points_written: int = 0
    batches: int = 0
    requests: int = 0
    retries: int = 0
    splits: int = 0
    bytes_sent: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    """Seconds per successful request, the most recent last."""
    lag: int = 0
    """Rows pending for this sink: exact when under a batch, else the spool's `depth` (refreshed every few s)."""
    lag_seconds: float = 0.0
    """Age of the oldest pending point (wall clock minus its timestamp); 0 when nothing is pending."""
    landed_upto: int = 0
    last_error: str = ""
    """The last failure (status and server text, or the connection error); never holds a secret."""
    state: str = "idle"
    """`idle`, `writing`, `retrying`, `throttled` or `config_error` (credentials, database or bucket wrong)."""

    @property
    def last_latency(self) -> float | None:
        """The latest request's latency in seconds, or None before the first write."""
        return self.latencies[-1] if self.latencies else None

    def latency_percentile(self, pct: float) -> float | None:
        """The `pct` percentile (0..100, nearest rank) of recent latencies in seconds, or None when none."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = round(pct / 100 * (len(ordered) - 1))
        return ordered[min(max(rank, 0), len(ordered) - 1)]

    def fields(self) -> dict[str, float]:
        """Numeric fields for the gateway's own metrics measurement (`gridedge`); the caller adds a prefix."""
        out = {
            "points_written": float(self.points_written),
            "batches": float(self.batches),
            "retries": float(self.retries),
            "rejects": float(sum(self.rejects.values())),
            "lag": float(self.lag),
            "lag_seconds": self.lag_seconds,
            "config_error": float(self.state == "config_error"),
        }
        for pct in (50, 99):
            value = self.latency_percentile(pct)
            if value is not None:
                out[f"latency_p{pct}_ms"] = value * 1000
        out.update({f"rejects_{reason}": float(n) for reason, n in self.rejects.items()})
        return out
