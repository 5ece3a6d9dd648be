"""The per-subject state of state rules (compiled with mypyc when built; see docs/rules.md)."""

from __future__ import annotations

from gateway.model import FieldValue, Reading
from rules.kinds.state import StateRule
from rules.levels import Levels
from rules.states.base import KindState, number


class StateState(KindState):
    """1.0 while the field equals the alarm value, else 0.0."""

    __slots__ = ("alarm", "field")

    def __init__(self, rule: StateRule, levels: Levels) -> None:
        super().__init__(levels)
        self.field = rule.field
        self.alarm = rule.alarm

    def feed(self, reading: Reading, t: int, now: int) -> int:
        """Step the levels with 1.0 (alarm) or 0.0."""
        raw = reading.fields.get(self.field)
        if raw is None:
            return -1
        if isinstance(self.alarm, str):
            on = str(raw).strip().lower() == self.alarm.strip().lower()
        else:
            x = number(raw)
            if x is None:
                return -1
            on = x == self.alarm
        self.value = 1.0 if on else 0.0
        self.idx = self.levels.step(self.idx, self.value)
        return self.levels.ranks[self.idx]

    def values(self, rank: int) -> dict[str, FieldValue]:
        """Field and state."""
        return {"field": self.field, "value": self.value, "alarm": self.value == 1.0}
