"""threshold: a field against set/clear levels (hysteresis), held `for` before opening."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rules.schema import RuleBase


class ThresholdRule(RuleBase):
    """A field's value against the severity levels."""

    kind: Literal["threshold"] = Field(description="Rule kind.")
    field: str = Field(description="The reading field compared, e.g. pm10 or level.")
