"""The per-subject state of threshold rules (compiled with mypyc when built; see docs/rules.md)."""

from __future__ import annotations

from gateway.model import FieldValue, Reading
from rules.kinds.threshold import ThresholdRule
from rules.levels import Levels
from rules.states.base import KindState, number


class ThresholdState(KindState):
    """Level index of the latest value of the field."""

    __slots__ = ("field",)

    def __init__(self, rule: ThresholdRule, levels: Levels) -> None:
        super().__init__(levels)
        self.field = rule.field

    def feed(self, reading: Reading, t: int, now: int) -> int:
        """Step the levels with the field's value."""
        x = number(reading.fields.get(self.field))
        if x is None:
            return -1
        self.value = x
        self.idx = self.levels.step(self.idx, x)
        return self.levels.ranks[self.idx]

    def values(self, rank: int) -> dict[str, FieldValue]:
        """Field, value and threshold crossed."""
        threshold = self.levels.threshold(self.idx)
        return {"field": self.field, "value": self.value, "current": self.value, "threshold": threshold}
