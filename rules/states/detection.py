"""The per-subject state of detection rules (compiled with mypyc when built; see docs/rules.md)."""

from __future__ import annotations

from typing import Any

from gateway.model import Detection, FieldValue
from rules.kinds.detection import DetectionRule
from rules.levels import Levels
from rules.states.base import KindState


class DetectionState(KindState):
    """The current run of qualifying detections of one camera zone."""

    __slots__ = ("camera", "frames", "last_ts", "rule", "run_start", "zone")

    def __init__(self, rule: DetectionRule, levels: Levels, camera: str, zone: str) -> None:
        super().__init__(levels)
        self.rule = rule
        self.camera = camera
        self.zone = zone
        self.frames = 0
        self.run_start = 0
        self.last_ts: int | None = None

    def detect(self, detection: Detection, t: int) -> int:
        """Extend or start the run; once it qualifies, step the levels with the score."""
        rule = self.rule
        if detection.score < rule.min_score:
            return -1
        if self.last_ts is None or t - self.last_ts > rule.max_gap:
            self.frames = 0
            self.run_start = t
        self.frames += 1
        self.last_ts = t
        if self.frames < rule.min_frames or t - self.run_start < rule.min_duration:
            return -1
        self.value = detection.score
        snapshot = f"snapshot:{detection.camera}/{detection.zone}/{detection.ts_ns}" if detection.snapshot else None
        self.evidence = tuple(ref for ref in (snapshot, detection.clip) if ref)
        self.idx = self.levels.step(self.idx, detection.score)
        return self.levels.ranks[self.idx]

    def due(self) -> int | None:
        """When the run is over for want of detections."""
        return None if self.last_ts is None else self.last_ts + self.rule.clear_after

    def fire(self, t: int) -> int:
        """No detection for `clear_after`: the run ends and the level clears."""
        self.last_ts = None
        self.frames = 0
        self.idx = 0
        self.value = 0.0
        return 0

    def values(self, rank: int) -> dict[str, FieldValue]:
        """Camera, zone, detector, score and run length."""
        return {
            "camera": self.camera, "zone": self.zone, "detector": self.rule.detector, "score": self.value,
            "value": self.value, "frames": self.frames, "threshold": self.levels.threshold(self.idx),
        }  # fmt: skip

    def dump(self) -> dict[str, Any]:
        """Level and run."""
        return {**super().dump(), "frames": self.frames, "run_start": self.run_start, "last_ts": self.last_ts}

    def load(self, state: dict[str, Any], shift_ns: int) -> None:
        """Restore level and run (moved by the downtime)."""
        super().load(state, shift_ns)
        self.frames = state["frames"]
        self.run_start = state["run_start"] + shift_ns
        self.last_ts = None if state["last_ts"] is None else state["last_ts"] + shift_ns
