"""The rule kinds: one module each (its config model and per-subject state), registered here.

A new kind is one new module plus one entry in `AnyRule` and `make_state`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from rules.kinds.base import KindState
from rules.kinds.detection import DetectionRule, DetectionState
from rules.kinds.expression import ExpressionRule, ExpressionState
from rules.kinds.rate import Predict, RateRule, RateState
from rules.kinds.silence import SilenceRule, SilenceState
from rules.kinds.state import StateRule, StateState
from rules.kinds.threshold import ThresholdRule, ThresholdState
from rules.kinds.window import WindowRule, WindowState
from rules.levels import Levels

__all__ = [
    "AnyRule", "DetectionRule", "ExpressionRule", "KindState", "Predict", "RateRule", "SilenceRule",
    "StateRule", "ThresholdRule", "WindowRule", "make_state",
]  # fmt: skip

_SIMPLE: dict[type, Callable[[Any, Levels], KindState]] = {
    ThresholdRule: ThresholdState, WindowRule: WindowState, StateRule: StateState, ExpressionRule: ExpressionState,
}  # fmt: skip

AnyRule = Annotated[
    ThresholdRule | WindowRule | RateRule | StateRule | SilenceRule | DetectionRule | ExpressionRule,
    Field(discriminator="kind"),
]
"""Any rule of the file, told apart by its `kind`."""


def make_state(
    rule: AnyRule, levels: Levels, severities: tuple[str, ...], subject: str, interval_ns: int, start_ns: int
) -> KindState:
    """The per-subject state of a rule (subject = device id, or camera:zone for detections)."""
    if isinstance(rule, RateRule):
        return RateState(rule, levels, severities)
    if isinstance(rule, SilenceRule):
        return SilenceState(levels, subject, interval_ns, start_ns)
    if isinstance(rule, DetectionRule):
        camera, _, zone = subject.rpartition(":")
        return DetectionState(rule, levels, camera, zone)
    return _SIMPLE[type(rule)](rule, levels)
