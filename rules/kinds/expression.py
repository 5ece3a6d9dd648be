"""expression: a safe expression over a reading's fields and window values, against the levels."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rules.expr import Expr, ExprError
from rules.schema import RuleBase


class ExpressionRule(RuleBase):
    """E.g. `avg(pm10, "15m") - avg(pm10_ref, "15m")`; a comparison gives 1/0 (default level: set 1)."""

    kind: Literal["expression"] = Field(description="Rule kind.")
    expr: str = Field(description="The expression (see docs/rules.md for the language).")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """Default to one warning level at 1 (a true comparison)."""
        if isinstance(data, dict):
            data = dict(data)
            data.setdefault("levels", [{"severity": "warning", "set": 1}])
        return data

    @field_validator("expr")
    @classmethod
    def _compiles(cls, value: str) -> str:
        """Reject expressions outside the language at load time."""
        try:
            Expr(value)
        except ExprError as exc:
            raise ValueError(f"expression {value!r}: {exc}") from None
        return value
