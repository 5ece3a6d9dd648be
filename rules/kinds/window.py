"""window: an aggregate (avg, max, min, count, sum, pNN) of a field over a sliding time window."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rules.durations import Duration
from rules.schema import RuleBase


class WindowRule(RuleBase):
    """An aggregate of a field over the last `window` against the severity levels."""

    kind: Literal["window"] = Field(description="Rule kind.")
    field: str = Field(description="The reading field aggregated.")
    agg: str = Field(
        default="avg", pattern=r"^(avg|sum|min|max|count|p\d{1,2})$", description="avg, sum, min, max, count or pNN."
    )
    window: Duration = Field(gt=0, description="Window width: samples newer than now - window count.")
    min_count: int = Field(default=1, ge=1, description="Samples needed in the window before it is evaluated.")
