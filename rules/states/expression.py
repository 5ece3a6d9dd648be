"""The per-subject state of expression rules (compiled with mypyc when built; see docs/rules.md)."""

from __future__ import annotations

import functools
from typing import Any

from gateway.model import FieldValue, Reading
from rules.durations import NS_PER_S
from rules.expr import Expr
from rules.kinds.expression import ExpressionRule
from rules.levels import Levels
from rules.states.base import KindState, number
from rules.windows import RateWindow, SlidingWindow


@functools.lru_cache(maxsize=512)
def compiled(text: str) -> Expr:
    """The compiled expression, shared by every subject of a rule (Expr is immutable once built)."""
    return Expr(text)


class ExpressionState(KindState):
    """The compiled expression and the windows it reads."""

    __slots__ = ("expr", "slots", "windows")

    def __init__(self, rule: ExpressionRule, levels: Levels) -> None:
        super().__init__(levels)
        self.expr = compiled(rule.expr)
        self.windows: list[tuple[str, str, SlidingWindow | RateWindow]] = []
        for ref in self.expr.windows:
            window: SlidingWindow | RateWindow
            if ref.func in ("rate", "delta"):
                window = RateWindow(ref.width_ns, 3600 * NS_PER_S)
            else:
                window = SlidingWindow(ref.func, ref.width_ns)
            self.windows.append((ref.func, ref.field, window))
        self.slots: list[float | None] = [None] * len(self.windows)

    def feed(self, reading: Reading, t: int, now: int) -> int:
        """Update the windows of the fields present, then evaluate."""
        fields = reading.fields
        slots = self.slots
        for i, (func, name, window) in enumerate(self.windows):
            x = number(fields.get(name))
            if type(window) is SlidingWindow:
                if x is not None:
                    window.add(t, x)
                else:
                    window.evict(t)
                slots[i] = window.value()
            else:
                assert isinstance(window, RateWindow)
                if x is not None:
                    window.add(t, x)
                slots[i] = window.rate() if func == "rate" else window.delta()
        value = self.expr.evaluate(fields, slots)
        if value is None:
            return -1
        self.value = value
        self.idx = self.levels.step(self.idx, value)
        return self.levels.ranks[self.idx]

    def values(self, rank: int) -> dict[str, FieldValue]:
        """The expression, its value, and the window values it read."""
        values: dict[str, FieldValue] = {"expr": self.expr.text, "value": self.value}
        values["threshold"] = self.levels.threshold(self.idx)
        for (func, name, window), slot in zip(self.windows, self.slots, strict=True):
            if slot is not None:
                width = window.width // NS_PER_S
                values[f"{func}({name},{width}s)"] = slot
        return values

    def dump(self) -> dict[str, Any]:
        """Level and window samples."""
        return {**super().dump(), "windows": [w.dump() for _, _, w in self.windows]}

    def load(self, state: dict[str, Any], shift_ns: int) -> None:
        """Restore level and windows."""
        super().load(state, shift_ns)
        for (_, _, window), samples in zip(self.windows, state["windows"], strict=True):
            window.load(samples)
