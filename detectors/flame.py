"""Flame: a flame-colour pixel model, per-pixel persistence and incoherent flicker, held over time.

Colour (Chen et al. 2004 RGB rule with the YCrCb chroma test of Celik & Demirel 2009) finds
candidate pixels; a burning object stays where it is, so only pixels flame-coloured most of the
last second count; and flames churn: pixels that stay flame-coloured from one frame to the next
still change brightness, each its own way (measured after the view's own frame-to-frame shift is
taken out, so a camera shaking in the wind is not a flicker). The part of that change which is not a uniform
brightening or dimming, taken as the median absolute deviation over the region so that a few
switching neon segments do not count ("incoherent flicker"), separates flames from flashing neon and blinking
lamps (uniform), moving or floating orange objects (their shading moves with them), and sunsets
(which barely change at all).

Still images have no time axis: `image_score` is the probability of a small learnt model over
colour, structure and shape features of the frame (detectors/flame_image.py).
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field

from detectors.base import NS, Detector, DetectorSettings, Hit, blob_boxes
from detectors.flame_image import colour_mask, probability, shipped_model
from detectors.frame import Frame, Image
from detectors.registry import register
from detectors.scene import BoolMask, Scene

Floats = npt.NDArray[np.float32]


class FlameSettings(DetectorSettings):
    """Settings of the flame detector; defaults were tuned on the whole development set (docs/detectors.md)."""

    type: Literal["flame"] = Field(default="flame", description="Detector type: flame.")
    red_min: int = Field(150, ge=0, le=255, title="Red minimum", description="Least red level of a flame pixel.")
    chroma_min: int = Field(
        40, ge=0, le=255, title="Chroma minimum", description="Least Cr-Cb of a flame pixel (how far from grey-white)."
    )
    min_area: float = Field(
        0.0005, gt=0, le=1, title="Minimum area", description="Least fraction of the frame a flame region covers."
    )
    persistence_s: float = Field(
        1.0, gt=0, title="Persistence", description="Time constant of the per-pixel flame-colour average."
    )
    persistence_min: float = Field(
        0.3, gt=0, le=1, title="Persistence minimum", description="Share of recent frames a pixel was flame-coloured."
    )
    flicker_min: float = Field(
        6.0, ge=0, title="Flicker minimum", description="Least median absolute deviation of grey change per frame."
    )
    evidence_s: float = Field(2.0, gt=0, title="Evidence window", description="Time constant of the evidence average.")
    evidence_min: float = Field(
        0.55, gt=0, le=1, title="Evidence minimum", description="Share of recent frames with flickering flame to fire."
    )
    image_score_min: float | None = Field(
        None,
        ge=0,
        le=1,
        title="Image threshold",
        description="Still-image path: least flame probability to fire (empty: the model's own 5 %-FPR threshold).",
    )

    def image_threshold(self) -> float:
        """The still-image threshold in use: the configured one, else the one shipped with the model."""
        return shipped_model().threshold if self.image_score_min is None else self.image_score_min


def image_score(bgr: Image) -> float:
    """Single-frame path for still images: the learnt model's flame probability (detectors/flame_image.py)."""
    return probability(bgr)


@register
class FlameDetector(Detector[FlameSettings]):
    """Fires on a zone where flickering flame colour has persisted for about a second."""

    type_key = "flame"
    settings_model = FlameSettings

    def __init__(self, settings: FlameSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        self._persist: Floats | None = None
        self._prev: Floats | None = None
        self._prev_colour: BoolMask | None = None
        self._prev_ns = 0
        self._evidence = [0.0] * len(self.zones)

    def still(self, frame: Frame) -> None:
        """A still scene holds no flame: let the evidence decay."""
        self._evidence = [0.0] * len(self.zones)
        self._prev = None
        self._prev_colour = None

    def analyse(self, frame: Frame) -> list[Hit]:
        """Update persistence and flicker with this frame; return zones whose flame evidence is high."""
        s = self.settings
        colour = colour_mask(frame.small, frame.ycrcb, s.red_min, s.chroma_min)
        grey = frame.grey.astype(np.float32)
        dt = (frame.ts_ns - self._prev_ns) / NS if self._prev is not None else 0.2
        self._prev_ns = frame.ts_ns
        persist = self._update_persistence(colour, dt)
        candidate = colour & (persist >= s.persistence_min)
        prev, self._prev = self._prev, grey
        prev_colour, self._prev_colour = self._prev_colour, colour
        if prev is None or prev_colour is None or prev.shape != grey.shape:
            return []
        candidate &= prev_colour
        min_px = max(4, round(s.min_area * candidate.size))
        if int(candidate.sum()) >= min_px:  # the shift estimate costs ~1 ms: only with candidates to judge
            prev = steady_previous(prev, grey)
        change = grey - prev
        keep = 1.0 - math.exp(-max(dt, 0.0) / s.evidence_s)
        hits = []
        for i, zone in enumerate(self.masks(frame)):
            hit = self._zone(i, candidate & zone, change, min_px, keep)
            if hit is not None:
                hits.append(hit)
        return hits

    def _update_persistence(self, colour: BoolMask, dt: float) -> Floats:
        """The per-pixel running share of frames that were flame-coloured."""
        if self._persist is None or self._persist.shape != colour.shape:
            self._persist = np.zeros(colour.shape, np.float32)
        weight = 1.0 - math.exp(-max(dt, 0.0) / self.settings.persistence_s)
        cv2.accumulateWeighted(colour.astype(np.float32), self._persist, weight)
        return self._persist

    def _zone(self, i: int, candidate: BoolMask, change: Floats, min_px: int, keep: float) -> Hit | None:
        """Update one zone's evidence and return a hit while it is high enough.

        Flicker is measured over all of the zone's candidate pixels: a large still flame-coloured
        surface in the same zone dilutes it, so mask such surfaces or give them their own zone.
        """
        area = int(candidate.sum())
        flicker = incoherent_change(candidate, change) if area >= min_px else 0.0
        seen = area >= min_px and flicker >= self.settings.flicker_min
        self._evidence[i] += keep * (float(seen) - self._evidence[i])
        if self._evidence[i] < self.settings.evidence_min or not seen:
            return None
        boxes = blob_boxes(candidate, min_px, "flame", self._evidence[i])
        values = {"area": area / candidate.size, "flicker": flicker}
        return Hit(i, self._evidence[i], boxes, values)


MAX_SHAKE_PX = 8.0
"""Frame-to-frame shifts above this (working-size pixels) are a pan or a cut, not shake: left alone."""
MIN_SHAKE_RESPONSE = 0.5
"""A whole view that moved correlates sharply (phase-correlation peak ≥ 0.73 in 99 % of the shaken
development photos' frames); a peak below this comes from the scene's own movement dominating a
plain view (a large flame), and its 'shift' is not the camera's: left alone."""


def steady_previous(prev: Floats, grey: Floats) -> Floats:
    """The previous frame moved onto this one by the whole view's shift since it (a pole camera in the
    wind), so what is left of the change is the scene's own. Sharp red edges and point lights moved
    by a pixel change each their own way and read as flicker otherwise. The shift comes from phase
    correlation; cubic interpolation, since linear leaves a residue at point lights."""
    (dx, dy), response = cv2.phaseCorrelate(prev, grey)
    if response < MIN_SHAKE_RESPONSE or not 0.05 <= math.hypot(dx, dy) <= MAX_SHAKE_PX:
        return prev
    shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    size = (grey.shape[1], grey.shape[0])
    return np.asarray(cv2.warpAffine(prev, shift, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE))


def incoherent_change(region: BoolMask, change: Floats) -> float:
    """Median absolute deviation of the grey change inside a region: most of it churns, not blinks or moves."""
    values = change[region]
    if values.size == 0:
        return 0.0
    return float(np.median(np.abs(values - np.median(values))))
