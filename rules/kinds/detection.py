"""detection: camera detections (detector, zone, min score) sustained for frames or a duration."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from rules.durations import NS_PER_S, Duration
from rules.schema import RuleBase


class DetectionRule(RuleBase):
    """Qualifying detections in a run (gaps at most `max_gap`) open once long or numerous enough."""

    kind: Literal["detection"] = Field(description="Rule kind.")
    detector: str = Field(description="Detector name, e.g. flame, smoke, water.")
    zones: list[str] | None = Field(default=None, description="Zones that count; all zones if absent.")
    min_score: float = Field(default=0.5, ge=0, le=1, description="Detections scoring below this are ignored.")
    min_frames: int = Field(default=1, ge=1, description="Qualifying detections needed in the run.")
    min_duration: Duration = Field(default=0, description="How long the run must last.")
    max_gap: Duration = Field(default=5 * NS_PER_S, gt=0, description="A longer gap starts a new run.")
    clear_after: Duration = Field(default=30 * NS_PER_S, gt=0, description="Clear after this long with no detection.")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """Default to one warning level on the score at min_score."""
        if isinstance(data, dict):
            data = dict(data)
            data.setdefault("levels", [{"severity": "warning", "set": data.get("min_score", 0.5)}])
        return data
