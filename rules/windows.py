"""Sliding time windows with running aggregates: a sample at t stays in while t > now - width."""

from __future__ import annotations

import bisect
import math
import re
from collections import deque
from typing import Final

AGG_RE: Final = re.compile(r"^(avg|sum|min|max|count|p(\d{1,2}))$")


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values with linear interpolation (numpy's and pandas' default)."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class SlidingWindow:
    """Aggregate (avg, sum, min, max, count, pNN) of the samples of the last `width_ns` nanoseconds."""

    __slots__ = ("_q", "agg", "maxq", "min_count", "minq", "ordered", "total", "ts", "vs", "width")

    def __init__(self, agg: str, width_ns: int, min_count: int = 1) -> None:
        match = AGG_RE.match(agg)
        if not match:
            raise ValueError(f"aggregate {agg!r} must be avg, sum, min, max, count or pNN")
        self.agg = agg
        self.width = width_ns
        self.min_count = min_count
        self.ts: deque[int] = deque()
        self.vs: deque[float] = deque()
        self.total = 0.0
        self.maxq: deque[tuple[int, float]] = deque()
        self.minq: deque[tuple[int, float]] = deque()
        self.ordered: list[float] = []
        self._q = int(match.group(2)) / 100 if match.group(2) else 0.0

    def add(self, t: int, v: float) -> None:
        """Take a sample and drop those that fell out of the window."""
        self.evict(t)
        self.ts.append(t)
        self.vs.append(v)
        agg = self.agg
        if agg in ("avg", "sum"):
            self.total += v
        elif agg == "max":
            q = self.maxq
            while q and q[-1][1] <= v:
                q.pop()
            q.append((t, v))
        elif agg == "min":
            q = self.minq
            while q and q[-1][1] >= v:
                q.pop()
            q.append((t, v))
        elif agg != "count":
            bisect.insort(self.ordered, v)

    def evict(self, now: int) -> None:
        """Drop samples at or before now - width."""
        cutoff = now - self.width
        ts = self.ts
        while ts and ts[0] <= cutoff:
            ts.popleft()
            v = self.vs.popleft()
            if self.agg in ("avg", "sum"):
                self.total = self.total - v if ts else 0.0
            elif self.agg[0] == "p":
                del self.ordered[bisect.bisect_left(self.ordered, v)]
        for q in (self.maxq, self.minq):
            while q and q[0][0] <= cutoff:
                q.popleft()

    def value(self) -> float | None:
        """The aggregate, or None with fewer than `min_count` samples."""
        n = len(self.ts)
        if n < self.min_count or n == 0:
            return None
        agg = self.agg
        if agg in ("avg", "sum"):
            return self.total / n if agg == "avg" else self.total
        if agg in ("max", "min"):
            return (self.maxq if agg == "max" else self.minq)[0][1]
        return float(n) if agg == "count" else percentile(self.ordered, self._q)

    def dump(self) -> list[list[float]]:
        """The samples, for a snapshot."""
        return [[t, v] for t, v in zip(self.ts, self.vs, strict=True)]

    def load(self, samples: list[list[float]]) -> None:
        """Rebuild from a snapshot's samples."""
        for t, v in samples:
            self.add(int(t), float(v))


class RateWindow:
    """Change of a value over the last `width_ns`: first-to-last difference, and that per `per_ns`."""

    __slots__ = ("per", "samples", "width")

    def __init__(self, width_ns: int, per_ns: int) -> None:
        self.width = width_ns
        self.per = per_ns
        self.samples: deque[tuple[int, float]] = deque()

    def add(self, t: int, v: float) -> None:
        """Take a sample and drop those that fell out of the window."""
        cutoff = t - self.width
        samples = self.samples
        while samples and samples[0][0] <= cutoff:
            samples.popleft()
        samples.append((t, v))

    def delta(self) -> float | None:
        """Last minus first value in the window, or None with fewer than two samples."""
        if len(self.samples) < 2:
            return None
        return self.samples[-1][1] - self.samples[0][1]

    def rate(self) -> float | None:
        """Change per `per` (e.g. metres per hour), or None with fewer than two distinct instants."""
        if len(self.samples) < 2:
            return None
        (t0, v0), (t1, v1) = self.samples[0], self.samples[-1]
        if t1 <= t0:
            return None
        return (v1 - v0) * self.per / (t1 - t0)

    def dump(self) -> list[list[float]]:
        """The samples, for a snapshot."""
        return [[t, v] for t, v in self.samples]

    def load(self, samples: list[list[float]]) -> None:
        """Rebuild from a snapshot's samples."""
        for t, v in samples:
            self.add(int(t), float(v))
