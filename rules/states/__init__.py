"""Per-subject rule state, one module per kind: the hot path of the rules, compiled with mypyc when built.

These modules hold no pydantic models (compiled code cannot carry them); the kinds' config models
live in `rules.kinds`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules.native import package_path

__path__ = package_path(__name__, __path__)  # before any compiled submodule is imported

from rules.kinds import (
    AnyRule,
    DetectionRule,
    ExpressionRule,
    RateRule,
    SilenceRule,
    StateRule,
    ThresholdRule,
    WindowRule,
)
from rules.levels import Levels
from rules.states.base import KindState
from rules.states.detection import DetectionState
from rules.states.expression import ExpressionState
from rules.states.rate import RateState
from rules.states.silence import SilenceState
from rules.states.state import StateState
from rules.states.threshold import ThresholdState
from rules.states.window import WindowState

__all__ = ["KindState", "make_state"]

_SIMPLE: dict[type, Callable[[Any, Levels], KindState]] = {
    ThresholdRule: ThresholdState, WindowRule: WindowState, StateRule: StateState, ExpressionRule: ExpressionState,
}  # fmt: skip


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
