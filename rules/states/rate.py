"""The per-subject state of rate rules (compiled with mypyc when built; see docs/rules.md)."""

from __future__ import annotations

import math
from typing import Any

from gateway.model import FieldValue, Reading
from rules.durations import NS_PER_S
from rules.kinds.rate import RateRule
from rules.levels import Levels
from rules.states.base import KindState, number
from rules.windows import RateWindow


class RateState(KindState):
    """The rate window of one device's field and the prediction's hysteresis."""

    __slots__ = ("current", "eta_s", "field", "prank", "predicted", "rule", "window")

    def __init__(self, rule: RateRule, levels: Levels, severities: tuple[str, ...]) -> None:
        super().__init__(levels)
        self.rule = rule
        self.field = rule.field
        self.window = RateWindow(rule.window, rule.per, rule.min_span)
        self.current = 0.0
        self.eta_s = math.inf
        self.predicted = False
        self.prank = severities.index(rule.predict.severity) + 1 if rule.predict else 0

    def feed(self, reading: Reading, t: int, now: int) -> int:
        """Add the value, step the levels with the rate and the prediction with the time to target."""
        x = number(reading.fields.get(self.field))
        if x is None:
            return -1
        self.current = x
        self.window.add(t, x)
        rate = self.window.rate()
        if rate is None:
            return -1
        self.value = rate
        if self.levels.n:
            self.idx = self.levels.step(self.idx, rate)
        predict = self.rule.predict
        if predict is not None:
            self.eta_s = self._eta(x, rate, predict.target)
            limit = predict.within if not self.predicted else (predict.clear_within or predict.within)
            self.predicted = self.eta_s * NS_PER_S <= limit
        return self.rank()

    def rank(self) -> int:
        """The higher of the rate level's rank and the prediction's."""
        rank = self.levels.ranks[self.idx]
        return max(rank, self.prank) if self.predicted else rank

    def _eta(self, x: float, rate: float, target: float) -> float:
        """Seconds until the value reaches target at this rate (0 if there, inf if moving away)."""
        sign = self.levels.sign
        if sign * x >= sign * target:
            return 0.0
        if rate == 0 or (target - x) / rate <= 0:
            return math.inf
        return (target - x) / rate * self.rule.per / NS_PER_S

    def reset(self) -> None:
        """Forget level and prediction."""
        self.idx = 0
        self.predicted = False

    def values(self, rank: int) -> dict[str, FieldValue]:
        """Field, current value, rate, threshold and prediction."""
        values: dict[str, FieldValue] = {
            "field": self.field, "current": self.current, "value": self.value, "rate": self.value,
            "per_s": self.rule.per / NS_PER_S, "threshold": self.levels.threshold(self.idx) if self.levels.n else 0.0,
        }  # fmt: skip
        if self.rule.predict is not None:
            values["target"] = self.rule.predict.target
            values["eta_s"] = self.eta_s if math.isfinite(self.eta_s) else -1.0
            values["predicted"] = self.predicted
        return values

    def dump(self) -> dict[str, Any]:
        """Level, prediction and samples."""
        eta = self.eta_s if math.isfinite(self.eta_s) else None
        return {**super().dump(), "current": self.current, "eta_s": eta, "predicted": self.predicted,
                "samples": self.window.dump()}  # fmt: skip

    def load(self, state: dict[str, Any], shift_ns: int) -> None:
        """Restore level, prediction and samples."""
        super().load(state, shift_ns)
        self.current = state["current"]
        self.eta_s = math.inf if state["eta_s"] is None else state["eta_s"]
        self.predicted = state["predicted"]
        self.window.load(state["samples"])
