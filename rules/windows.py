"""Sliding time windows with running aggregates: a sample at t stays in while t > now - width.

Samples live in compact typed arrays (`array('q')` times, `array('d')` values: 16 bytes a sample)
created on a subject's first sample, read from a head index that eviction advances; the arrays are
compacted once the evicted prefix is at least half of them, so a sample costs O(1) amortised.
Only the structure an aggregate needs is kept: a running sum (avg, sum), a monotonic queue (max,
min), a sorted array (pNN).
"""

from __future__ import annotations

import bisect
import math
import re
from array import array
from typing import Final

AGG_RE: Final = re.compile(r"^(avg|sum|min|max|count|p(\d{1,2}))$")
Pair = list[int | float]
"""A sample as snapshots hold it: [t_ns, value]. The time stays an int: as a float it would lose
nanoseconds (compiled code converts whatever a `float` annotation receives)."""
COMPACT_AT: Final = 32
"""Evicted samples kept before the arrays are compacted (and only when they are half the arrays)."""


def percentile(ordered: array[float] | list[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values with linear interpolation (numpy's and pandas' default)."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class Samples:
    """Time-ordered (t, v) samples in typed arrays with a head index: append at the end, drop from the front."""

    __slots__ = ("head", "ts", "vs")

    def __init__(self) -> None:
        self.ts: array[int] = array("q")
        self.vs: array[float] = array("d")
        self.head = 0

    def __len__(self) -> int:
        return len(self.ts) - self.head

    def append(self, t: int, v: float) -> None:
        """Add a sample at the end."""
        self.ts.append(t)
        self.vs.append(v)

    def pop(self) -> None:
        """Drop the last sample."""
        self.ts.pop()
        self.vs.pop()

    def compact(self) -> None:
        """Free the evicted prefix once it is large enough to be worth a move."""
        head = self.head
        if head >= COMPACT_AT and 2 * head >= len(self.ts):
            del self.ts[:head]
            del self.vs[:head]
            self.head = 0

    def pairs(self) -> list[Pair]:
        """The samples as [t, v] lists (for snapshots)."""
        h = self.head
        return [[t, v] for t, v in zip(self.ts[h:], self.vs[h:], strict=True)]


class SlidingWindow:
    """Aggregate (avg, sum, min, max, count, pNN) of the samples of the last `width_ns` nanoseconds."""

    __slots__ = ("_q", "agg", "min_count", "mono", "ordered", "running", "samples", "total", "width")

    def __init__(self, agg: str, width_ns: int, min_count: int = 1) -> None:
        match = AGG_RE.match(agg)
        if not match:
            raise ValueError(f"aggregate {agg!r} must be avg, sum, min, max, count or pNN")
        self.agg = agg
        self.width = width_ns
        self.min_count = min_count
        self.samples: Samples | None = None
        self.total = 0.0
        self.mono: Samples | None = None
        self.ordered: array[float] | None = None
        self.running = agg in ("avg", "sum")
        self._q = int(match.group(2)) / 100 if match.group(2) else 0.0

    def count(self) -> int:
        """Samples in the window."""
        return 0 if self.samples is None else len(self.samples)

    def add(self, t: int, v: float) -> None:
        """Take a sample and drop those that fell out of the window."""
        samples = self.samples
        if samples is None:
            samples = self.samples = Samples()
            if self.agg in ("max", "min"):
                self.mono = Samples()
            elif self.agg[0] == "p":
                self.ordered = array("d")
        head = samples.head
        # The monotonic queue holds a subset of the samples, so nothing is due when the oldest sample is not.
        if head < len(samples.ts) and samples.ts[head] <= t - self.width:
            self.evict(t)
        samples.ts.append(t)  # inline Samples.append: this is the rules' hot path
        samples.vs.append(v)
        if self.running:
            self.total += v
        elif self.mono is not None:
            q, vs = self.mono, self.mono.vs
            if self.agg == "max":
                while len(q) and vs[-1] <= v:
                    q.pop()
            else:
                while len(q) and vs[-1] >= v:
                    q.pop()
            q.append(t, v)
        elif self.ordered is not None:
            bisect.insort(self.ordered, v)

    def evict(self, now: int) -> None:
        """Drop samples at or before now - width."""
        samples = self.samples
        if samples is None:
            return
        cutoff = now - self.width
        ts, vs, head, end = samples.ts, samples.vs, samples.head, len(samples.ts)
        if head < end and ts[head] <= cutoff:
            running, ordered = self.running, self.ordered
            while head < end and ts[head] <= cutoff:
                v = vs[head]
                head += 1
                if running:
                    self.total = self.total - v if head < end else 0.0
                elif ordered is not None:
                    del ordered[bisect.bisect_left(ordered, v)]
            samples.head = head
            samples.compact()
        q = self.mono
        if q is not None:
            while len(q) and q.ts[q.head] <= cutoff:
                q.head += 1
            q.compact()

    def value(self) -> float | None:
        """The aggregate, or None with fewer than `min_count` samples."""
        samples = self.samples
        n = 0 if samples is None else len(samples.ts) - samples.head
        if n < self.min_count or n == 0:
            return None
        if self.running:
            return self.total / n if self.agg == "avg" else self.total
        if self.mono is not None:
            return self.mono.vs[self.mono.head]
        return float(n) if self.ordered is None else percentile(self.ordered, self._q)

    def dump(self) -> list[Pair]:
        """The samples, for a snapshot."""
        return [] if self.samples is None else self.samples.pairs()

    def load(self, samples: list[Pair]) -> None:
        """Rebuild from a snapshot's samples."""
        for t, v in samples:
            self.add(int(t), float(v))


class RateWindow:
    """Change of a value over the last `width_ns`: first-to-last difference, and that per `per_ns`.

    The rate waits until the samples span `min_span_ns`: two readings a minute apart turn a gauge's
    centimetre of noise into a rise of 0.6 m/h."""

    __slots__ = ("min_span", "per", "samples", "width")

    def __init__(self, width_ns: int, per_ns: int, min_span_ns: int = 0) -> None:
        self.width = width_ns
        self.per = per_ns
        self.min_span = max(1, min_span_ns)  # at least two distinct instants
        self.samples: Samples | None = None

    def add(self, t: int, v: float) -> None:
        """Take a sample and drop those that fell out of the window."""
        samples = self.samples
        if samples is None:
            samples = self.samples = Samples()
        cutoff = t - self.width
        ts, head, end = samples.ts, samples.head, len(samples.ts)
        while head < end and ts[head] <= cutoff:
            head += 1
        samples.head = head
        samples.compact()
        samples.append(t, v)

    def delta(self) -> float | None:
        """Last minus first value in the window, or None with fewer than two samples."""
        samples = self.samples
        if samples is None or len(samples) < 2:
            return None
        return samples.vs[-1] - samples.vs[samples.head]

    def rate(self) -> float | None:
        """Change per `per` (e.g. metres per hour), or None until the samples span `min_span`."""
        samples = self.samples
        if samples is None or len(samples) < 2:
            return None
        h = samples.head
        t0, v0, t1, v1 = samples.ts[h], samples.vs[h], samples.ts[-1], samples.vs[-1]
        if t1 - t0 < self.min_span:
            return None
        return (v1 - v0) * self.per / (t1 - t0)

    def dump(self) -> list[Pair]:
        """The samples, for a snapshot."""
        return [] if self.samples is None else self.samples.pairs()

    def load(self, samples: list[Pair]) -> None:
        """Rebuild from a snapshot's samples."""
        for t, v in samples:
            self.add(int(t), float(v))
