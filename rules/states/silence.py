"""The per-subject state of silence rules (compiled with mypyc when built; see docs/rules.md)."""

from __future__ import annotations

import math
from typing import Any

from gateway.model import FieldValue, Reading
from rules.durations import NS_PER_S
from rules.levels import Levels
from rules.states.base import KindState


class SilenceState(KindState):
    """When the device last reported; deadlines at each level's number of missed intervals."""

    __slots__ = ("device", "interval", "last_seen", "seen")

    def __init__(self, levels: Levels, device: str, interval_ns: int, start_ns: int) -> None:
        super().__init__(levels)
        self.device = device
        self.interval = interval_ns
        self.last_seen = start_ns
        self.seen = False

    def feed(self, reading: Reading, t: int, now: int) -> int:
        """A report, of any field: the device is alive as of receive time."""
        self.last_seen = max(self.last_seen, now)
        self.seen = True
        self.value = 0.0
        self.idx = self.levels.step(self.idx, 0.0)
        return self.levels.ranks[self.idx]

    def due(self) -> int | None:
        """When the next level's count of missed intervals is reached."""
        if self.idx >= self.levels.n:
            return None
        return self.last_seen + math.ceil(self.levels.sets[self.idx] * self.interval)

    def fire(self, t: int) -> int:
        """Count missed intervals at t and step the levels."""
        due = self.due()
        missed = (t - self.last_seen) / self.interval
        if due is not None and t >= due:
            missed = max(missed, self.levels.sets[self.idx])
        self.value = missed
        self.idx = self.levels.step(self.idx, missed)
        return self.levels.ranks[self.idx]

    def values(self, rank: int) -> dict[str, FieldValue]:
        """Missed intervals, last report and whether the device was ever seen."""
        return {
            "device": self.device, "value": self.value, "missed_intervals": self.value,
            "expected_interval_s": self.interval / NS_PER_S, "last_seen_ns": self.last_seen,
            "never_seen": not self.seen, "threshold": self.levels.threshold(self.idx),
        }  # fmt: skip

    def dump(self) -> dict[str, Any]:
        """Level and last report."""
        return {**super().dump(), "last_seen": self.last_seen, "seen": self.seen}

    def load(self, state: dict[str, Any], shift_ns: int) -> None:
        """Restore, counting the downtime as reported (a gateway that was down heard nothing)."""
        super().load(state, shift_ns)
        self.last_seen = state["last_seen"] + shift_ns
        self.seen = state["seen"]
