"""state: an alarm device's state field (fire/smoke alarm = 1), debounced."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rules.durations import Duration
from rules.schema import RuleBase


class StateRule(RuleBase):
    """Alarm while a field equals `alarm`; `debounce` is the default for both `for` and `clear_for`."""

    kind: Literal["state"] = Field(description="Rule kind.")
    field: str = Field(default="alarm", description="The state field, e.g. alarm or smoke.")
    alarm: float | str = Field(default=1.0, description="The value that means alarm (1, true, or a text such as FIRE).")
    debounce: Duration = Field(default=0, description="Hold time before opening and before resolving.")

    @field_validator("alarm", mode="before")
    @classmethod
    def _numeric_alarm(cls, value: object) -> object:
        """Store numbers and booleans as floats (true = 1.0)."""
        return float(value) if isinstance(value, bool | int) else value

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """Default to one critical level at 1, and debounce into for/clear_for unless they are given."""
        if isinstance(data, dict):
            data = dict(data)
            data.setdefault("levels", [{"severity": "critical", "set": 1}])
            if "debounce" in data:
                data.setdefault("for", data["debounce"])
                data.setdefault("clear_for", data["debounce"])
        return data
