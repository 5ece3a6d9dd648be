"""The per-subject state of window rules (compiled with mypyc when built; see docs/rules.md)."""

from __future__ import annotations

from typing import Any

from gateway.model import FieldValue, Reading
from rules.durations import NS_PER_S
from rules.kinds.window import WindowRule
from rules.levels import Levels
from rules.states.base import KindState, number
from rules.windows import SlidingWindow


class WindowState(KindState):
    """The window of one device's field."""

    __slots__ = ("current", "field", "rule", "window")

    def __init__(self, rule: WindowRule, levels: Levels) -> None:
        super().__init__(levels)
        self.rule = rule
        self.field = rule.field
        self.window = SlidingWindow(rule.agg, rule.window, rule.min_count)
        self.current = 0.0

    def feed(self, reading: Reading, t: int, now: int) -> int:
        """Add the field's value and step the levels with the aggregate."""
        x = number(reading.fields.get(self.field))
        if x is None:
            return -1
        self.current = x
        self.window.add(t, x)
        agg = self.window.value()
        if agg is None:
            return -1
        self.value = agg
        self.idx = self.levels.step(self.idx, agg)
        return self.levels.ranks[self.idx]

    def values(self, rank: int) -> dict[str, FieldValue]:
        """Field, current value, aggregate and threshold crossed."""
        return {
            "field": self.field, "current": self.current, "aggregate": self.value, "value": self.value,
            "agg": self.rule.agg, "window_s": self.rule.window / NS_PER_S, "count": self.window.count(),
            "threshold": self.levels.threshold(self.idx),
        }  # fmt: skip

    def dump(self) -> dict[str, Any]:
        """Level, value and the window's samples."""
        return {**super().dump(), "current": self.current, "samples": self.window.dump()}

    def load(self, state: dict[str, Any], shift_ns: int) -> None:
        """Restore level, value and samples (sensor times, not shifted)."""
        super().load(state, shift_ns)
        self.current = state["current"]
        self.window.load(state["samples"])
