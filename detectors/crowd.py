"""Crowd gathering (群体性事件预警): people in a zone above N for T seconds, by foreground-blob counting.

OpenCV 5.0's wheels have no HOG people detector, so people are estimated from foreground area: a
background learnt over `background_s` (long enough that people who stop still count), foreground
cleaned by an opening, and the count taken as foreground area over the configured area of one
person at that spot (the camera's perspective sets it). Blob counts are reported alongside.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field

from detectors.base import NS, Detector, DetectorSettings, Hit, Hold, blob_boxes
from detectors.frame import Frame
from detectors.registry import register
from detectors.scene import Scene

Floats = npt.NDArray[np.float32]
_OPEN = np.ones((3, 3), np.uint8)


class CrowdSettings(DetectorSettings):
    """Settings of the crowd detector."""

    type: Literal["crowd"] = Field(default="crowd", description="Detector type: crowd.")
    interval_s: float = Field(0.5, ge=0, title="Interval", description="Seconds between analysed frames.")
    person_area: float = Field(
        1500.0, gt=0, title="Person area", description="Pixels (frame coordinates) one person covers in the zone."
    )
    min_people: int = Field(10, ge=1, title="People", description="Estimated people in the zone that fire.")
    hold_s: float = Field(30.0, ge=0, title="Hold", description="Seconds the count must stay above `min_people`.")
    threshold: float = Field(20.0, gt=0, title="Threshold", description="Grey-level change counted as foreground.")
    warmup_s: float = Field(
        5.0, ge=0, title="Warm-up", description="Seconds of learning before counting (people in the first frame fade)."
    )
    background_s: float = Field(
        120.0, gt=0, title="Background", description="Time constant of the background (people standing still count)."
    )


@register
class CrowdDetector(Detector[CrowdSettings]):
    """Fires on a zone where the estimated number of people stays at or above `min_people` for `hold_s`."""

    type_key = "crowd"
    settings_model = CrowdSettings
    gated = False  # a standing crowd hardly moves

    def __init__(self, settings: CrowdSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        self._bg: Floats | None = None
        self._bg_ns = 0
        self._seen = 0
        self._start_ns = 0
        self._holds = [Hold(grace_s=2 * settings.interval_s + 1) for _ in self.zones]

    def analyse(self, frame: Frame) -> list[Hit]:
        """Count foreground per zone; return zones crowded for long enough."""
        grey = cv2.GaussianBlur(frame.grey, (3, 3), 0).astype(np.float32)
        if self._bg is None or self._bg.shape != grey.shape:
            self._bg, self._bg_ns, self._seen, self._start_ns = grey, frame.ts_ns, 0, frame.ts_ns
            return []
        raw = (np.abs(grey - self._bg) >= self.settings.threshold).astype(np.uint8)
        fg = cv2.morphologyEx(raw, cv2.MORPH_OPEN, _OPEN).astype(bool)
        weight = 1.0 - math.exp(-max(0, frame.ts_ns - self._bg_ns) / NS / self.settings.background_s)
        self._seen += 1
        weight = max(weight, 1.0 / (self._seen + 1))  # warm up as a plain mean: first-frame people fade
        self._bg_ns = frame.ts_ns
        cv2.accumulateWeighted(grey, self._bg, weight)
        if frame.ts_ns - self._start_ns < self.settings.warmup_s * NS:
            return []
        person_px = self.settings.person_area / frame.scale**2
        hits = []
        for i, zone in enumerate(self.masks(frame)):
            people = float((fg & zone).sum()) / person_px
            held = self._holds[i].update(frame.ts_ns, people >= self.settings.min_people)
            if people >= self.settings.min_people and held >= self.settings.hold_s:
                boxes = blob_boxes(fg & zone, max(2, round(person_px / 4)), "person", limit=32)
                values = {"people": people, "blobs": float(len(boxes))}
                hits.append(Hit(i, min(1.0, people / self.settings.min_people / 2), boxes, values))
        return hits
