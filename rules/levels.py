"""Compiled severity levels: per-level hysteresis stepped one value at a time, or over a whole series."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rules.schema import Level


class Levels:
    """Levels normalised so that "beyond" is always "greater" (values of `below` rules are negated).

    `step(idx, v)` gives the new level index (0 = none): it escalates while v reaches the next set
    and de-escalates while v is strictly back past the current level's clear. Levels nest (sets and
    clears both ascend), so this equals each level keeping its own hysteresis state independently.
    `ranks[idx]` maps an index to the 1-based severity rank the incident carries (0 = none).
    """

    __slots__ = ("clears", "levels", "n", "ranks", "sets", "sign")

    def __init__(self, levels: Sequence[Level], direction: str, severities: Sequence[str]) -> None:
        self.levels = tuple(levels)
        self.sign = 1.0 if direction == "above" else -1.0
        self.sets = tuple(self.sign * lv.set for lv in levels)
        self.clears = tuple(self.sign * lv.clear_level for lv in levels)
        self.n = len(levels)
        self.ranks = (0, *(severities.index(lv.severity) + 1 for lv in levels))

    def step(self, idx: int, value: float) -> int:
        """The level index after seeing `value` at level index `idx`."""
        x = self.sign * value
        sets, clears, n = self.sets, self.clears, self.n
        while idx < n and x >= sets[idx]:
            idx += 1
        while idx and x < clears[idx - 1]:
            idx -= 1
        return idx

    def series(self, values: npt.NDArray[np.float64], start: int = 0) -> npt.NDArray[np.int64]:
        """The level index after each value of a series, starting from index `start` (vectorised step)."""
        x = self.sign * values
        positions = np.arange(len(x))
        total = np.zeros(len(x), dtype=np.int64)
        for i in range(self.n):
            signal = np.where(x >= self.sets[i], 1, np.where(x < self.clears[i], -1, 0))
            last = np.maximum.accumulate(np.where(signal != 0, positions, -1))
            decided = signal[np.maximum(last, 0)] == 1
            total += np.where(last >= 0, decided, i < start)
        return total

    def threshold(self, idx: int) -> float:
        """The threshold that matters at a level index: its set, or the first level's clear at 0."""
        if idx == 0:
            return self.levels[0].clear_level if self.levels else 0.0
        return self.levels[idx - 1].set
