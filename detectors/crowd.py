"""Crowd gathering (群体性事件预警): people in a zone above N for T seconds, by foreground-blob counting.

OpenCV 5's wheels have no HOG people detector (no `cv2.HOGDescriptor` in 5.1), so people are
counted from foreground blobs: a background learnt over `background_s` (long enough that people who
stop still count), foreground cleaned by an opening, and each blob counted as its area over the
area of one person, when it is person-sized: from under half a person (noise) up to `max_group`
people (a group walking together). A larger changed body is not people but water, smoke or a
lighting change, and does not count. One person's area comes from the scene: `person_area` in
frame pixels, or by default `person_share` of the frame (a wide street or plaza view).
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field

from detectors.base import NS, Detector, DetectorSettings, Hit, Hold
from detectors.frame import Frame
from detectors.registry import register
from detectors.scene import BoolMask, Scene
from gateway.model import Box

Floats = npt.NDArray[np.float32]
_OPEN = np.ones((3, 3), np.uint8)
_NOISE = 0.4  # blobs under this share of a person are noise


class CrowdSettings(DetectorSettings):
    """Settings of the crowd detector."""

    type: Literal["crowd"] = Field(default="crowd", description="Detector type: crowd.")
    interval_s: float = Field(0.5, ge=0, title="Interval", description="Seconds between analysed frames.")
    person_area: float | None = Field(
        None, gt=0, title="Person area", description="Pixels (frame coordinates) one person covers in the zone."
    )
    person_share: float = Field(
        0.0015,
        gt=0,
        le=0.5,
        title="Person share",
        description="Share of the frame one person covers, used when `person_area` is not set (wide view).",
    )
    max_group: float = Field(
        4.0, ge=1, title="Largest group", description="Largest blob counted as people, in persons (larger: not people)."
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
    learns_view = True

    def __init__(self, settings: CrowdSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        self._bg: Floats | None = None
        self._bg_ns = 0
        self._seen = 0
        self._start_ns = 0
        self._holds = [Hold(grace_s=2 * settings.interval_s + 1) for _ in self.zones]

    def relearn(self) -> None:
        """Forget the background and the holds (the camera moved); counting resumes after a new warm-up."""
        self._bg = None
        self._holds = [Hold(grace_s=2 * self.settings.interval_s + 1) for _ in self.zones]

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
        s = self.settings
        frame_px = frame.work_size[0] * frame.work_size[1]
        person_px = s.person_area / frame.scale**2 if s.person_area is not None else s.person_share * frame_px
        hits = []
        for i, zone in enumerate(self.masks(frame)):
            people, boxes = count_people(fg & zone, person_px, s.max_group)
            held = self._holds[i].update(frame.ts_ns, people >= s.min_people)
            if people >= s.min_people and held >= s.hold_s:
                values = {"people": people, "blobs": float(len(boxes)), "person_px": person_px * frame.scale**2}
                hits.append(Hit(i, min(1.0, people / s.min_people / 2), boxes[:32], values))
        return hits


def count_people(fg: BoolMask, person_px: float, max_group: float) -> tuple[float, list[Box]]:
    """People in a foreground mask: person-sized blobs, each counted as its area in persons (at least one)."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    people, boxes = 0.0, []
    for x, y, w, h, area in stats[1:count]:
        persons = area / person_px
        if _NOISE <= persons <= max_group:
            people += max(1.0, round(persons))
            boxes.append(Box(int(x), int(y), int(w), int(h), "person", 1.0))
    return people, boxes
