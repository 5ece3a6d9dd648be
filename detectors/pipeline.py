"""A camera's detectors run together: one shared downscale, motion first, the costlier ones gated by it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detectors.base import Detector, DetectorSettings
from detectors.frame import Frame, Image
from detectors.motion import MotionDetector, MotionSettings
from detectors.registry import build
from detectors.scene import Scene
from gateway.model import Detection


class DetectorSet:
    """Every detector of one camera; feed frames in time order with `process`."""

    def __init__(self, scene: Scene, settings: Sequence[DetectorSettings], work_width: int = 320) -> None:
        self.scene = scene
        self.work_width = work_width
        self.detectors: list[Detector[Any]] = [build(s, scene) for s in settings]
        gates = [d for d in self.detectors if isinstance(d, MotionDetector)]
        self.motion: MotionDetector = gates[0] if gates else MotionDetector(MotionSettings.model_validate({}), scene)
        self.frames = 0
        self.still_frames = 0

    def process(self, frame_bgr: Image, ts_ns: int) -> list[Detection]:
        """Run every detector on one BGR frame taken at `ts_ns`; return what they report."""
        frame = Frame(frame_bgr, ts_ns, self.work_width)
        moving = self.motion.update(frame)
        frame.camera_moving = self.motion.camera_moving
        self.frames += 1
        self.still_frames += not moving
        found: list[Detection] = []
        for detector in self.detectors:
            found.extend(detector.process(frame, moving))
        return found
