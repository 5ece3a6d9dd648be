"""The rule kinds' config models: one module each, registered here.

A new kind is one module here, its per-subject state in `rules.states`, an entry in `AnyRule`
and one in `rules.states.make_state`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rules.kinds.detection import DetectionRule
from rules.kinds.expression import ExpressionRule
from rules.kinds.rate import Predict, RateRule
from rules.kinds.silence import SilenceRule
from rules.kinds.state import StateRule
from rules.kinds.threshold import ThresholdRule
from rules.kinds.window import WindowRule

__all__ = [
    "AnyRule", "DetectionRule", "ExpressionRule", "Predict", "RateRule", "SilenceRule", "StateRule",
    "ThresholdRule", "WindowRule",
]  # fmt: skip

AnyRule = Annotated[
    ThresholdRule | WindowRule | RateRule | StateRule | SilenceRule | DetectionRule | ExpressionRule,
    Field(discriminator="kind"),
]
"""Any rule of the file, told apart by its `kind`."""
