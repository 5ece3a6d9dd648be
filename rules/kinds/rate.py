"""rate: rate of change over a window (e.g. water rising faster than 0.3 m/h), and time-to-threshold."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from gateway.model import FieldValue, Reading
from rules.durations import NS_PER_S, Duration
from rules.kinds.base import KindState, number
from rules.levels import Levels
from rules.schema import Model, RuleBase
from rules.windows import RateWindow


class Predict(Model):
    """Alarm when, at the current rate, the value will reach `target` (e.g. 警戒水位) within `within`."""

    target: float = Field(description="The level the prediction watches, in the field's unit.")
    within: Duration = Field(gt=0, description="Alarm when the predicted time to reach target is at most this.")
    clear_within: Duration | None = Field(
        default=None, description="Clear once the predicted time exceeds this (hysteresis; default `within`)."
    )
    severity: str = Field(default="warning", description="Severity of a predicted crossing.")


class RateRule(RuleBase):
    """Change per `per` over the last `window` against the levels, plus an optional prediction."""

    kind: Literal["rate"] = Field(description="Rule kind.")
    field: str = Field(description="The reading field watched, e.g. level (m).")
    window: Duration = Field(gt=0, description="Rate = (last - first) over the samples in this window.")
    per: Duration = Field(default=3600 * NS_PER_S, gt=0, description="Rate unit: change per this (default 1h).")
    predict: Predict | None = Field(default=None, description="Time-to-threshold prediction.")

    @model_validator(mode="after")
    def _something_to_watch(self) -> RateRule:
        """A rate rule needs levels, a prediction, or both."""
        if not self.levels and self.predict is None:
            raise ValueError("a rate rule needs levels on the rate, a predict block, or both")
        if self.predict and self.predict.clear_within is not None and self.predict.clear_within < self.predict.within:
            raise ValueError("predict.clear_within must be at least predict.within")
        return self


class RateState(KindState):
    """The rate window of one device's field and the prediction's hysteresis."""

    __slots__ = ("current", "eta_s", "field", "prank", "predicted", "rule", "window")

    def __init__(self, rule: RateRule, levels: Levels, severities: tuple[str, ...]) -> None:
        super().__init__(levels)
        self.rule = rule
        self.field = rule.field
        self.window = RateWindow(rule.window, rule.per)
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
