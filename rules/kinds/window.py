"""window: an aggregate (avg, max, min, count, sum, pNN) of a field over a sliding time window."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gateway.model import FieldValue, Reading
from rules.durations import NS_PER_S, Duration
from rules.kinds.base import KindState, number
from rules.levels import Levels
from rules.schema import RuleBase
from rules.windows import SlidingWindow


class WindowRule(RuleBase):
    """An aggregate of a field over the last `window` against the severity levels."""

    kind: Literal["window"] = Field(description="Rule kind.")
    field: str = Field(description="The reading field aggregated.")
    agg: str = Field(
        default="avg", pattern=r"^(avg|sum|min|max|count|p\d{1,2})$", description="avg, sum, min, max, count or pNN."
    )
    window: Duration = Field(gt=0, description="Window width: samples newer than now - window count.")
    min_count: int = Field(default=1, ge=1, description="Samples needed in the window before it is evaluated.")


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
