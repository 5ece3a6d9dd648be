"""The state every rule kind keeps per subject, and the helpers kinds share."""

from __future__ import annotations

import math
from typing import Any

from gateway.model import Detection, FieldValue, Reading
from rules.levels import Levels


def number(value: object) -> float | None:
    """A field value as a finite float (bools as 0/1), or None."""
    if type(value) is float:  # the common case, first: x - x is 0.0 only for finite x
        return value if value - value == 0.0 else None
    if isinstance(value, bool | int | float):
        x = float(value)
        return x if math.isfinite(x) else None
    return None


class KindState:
    """Per-subject state of a rule kind: it turns inputs into a severity rank (0 = clear, -1 = not applicable)."""

    __slots__ = ("evidence", "idx", "levels", "value")

    def __init__(self, levels: Levels) -> None:
        self.levels = levels
        self.idx = 0
        self.value = 0.0
        self.evidence: tuple[str, ...] = ()
        """References of the sample behind the state (a detection's snapshot and clip)."""

    def rank(self) -> int:
        """The severity rank of the current level index."""
        return self.levels.ranks[self.idx]

    def feed(self, reading: Reading, t: int, now: int) -> int:
        """Take a reading at t (receive time `now`); the new rank, or -1 when it does not apply."""
        return -1

    def detect(self, detection: Detection, t: int) -> int:
        """Take a detection at t; the new rank, or -1 when it does not apply."""
        return -1

    def due(self) -> int | None:
        """This kind's own next deadline (silence, detection clear), if any."""
        return None

    def fire(self, t: int) -> int:
        """Act on the deadline due at t; the new rank."""
        return self.rank()

    def reset(self) -> None:
        """Forget the level (the rule left its schedule)."""
        self.idx = 0

    def values(self, rank: int) -> dict[str, FieldValue]:
        """The values behind the current state, for an event."""
        return {"value": self.value, "threshold": self.levels.threshold(self.idx)}

    def dump(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {"idx": self.idx, "value": self.value}

    def load(self, state: dict[str, Any], shift_ns: int) -> None:
        """Restore from `dump`, moving clock-based deadlines `shift_ns` later."""
        self.idx = state["idx"]
        self.value = state["value"]
