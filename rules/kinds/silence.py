"""silence: a device that has not reported within its expected interval (or never since start)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from rules.durations import Duration
from rules.schema import RuleBase


class SilenceRule(RuleBase):
    """Levels count missed intervals: `set: 3` fires after three expected intervals without a report."""

    kind: Literal["silence"] = Field(description="Rule kind.")
    interval: Duration | None = Field(
        default=None, description="Expected interval for devices whose registry entry has none."
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """Default to a warning after three missed intervals."""
        if isinstance(data, dict):
            data = dict(data)
            data.setdefault("levels", [{"severity": "warning", "set": 3}])
        return data
