"""rate: rate of change over a window (e.g. water rising faster than 0.3 m/h), and time-to-threshold."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rules.durations import NS_PER_S, Duration
from rules.schema import Model, RuleBase


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
    min_span: Duration = Field(
        default=0, ge=0,
        description="No rate until the window's samples span at least this: over a short span a gauge's "
        "noise reads as a fast change (1 cm in 2 min is 0.3 m/h). Shorter than window.",
    )  # fmt: skip
    predict: Predict | None = Field(default=None, description="Time-to-threshold prediction.")

    @model_validator(mode="after")
    def _something_to_watch(self) -> RateRule:
        """A rate rule needs levels, a prediction, or both."""
        if not self.levels and self.predict is None:
            raise ValueError("a rate rule needs levels on the rate, a predict block, or both")
        if self.predict and self.predict.clear_within is not None and self.predict.clear_within < self.predict.within:
            raise ValueError("predict.clear_within must be at least predict.within")
        if self.min_span >= self.window:
            raise ValueError("min_span must be shorter than window (the samples of a window span less than it)")
        return self
