"""Motion: frame differencing against a running background on a tiny grey frame; gates costlier detectors."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field

from detectors.base import Detector, DetectorSettings, Hit, blob_boxes
from detectors.frame import Frame
from detectors.registry import register
from detectors.scene import BoolMask, Scene
from gateway.model import Box


class MotionSettings(DetectorSettings):
    """Settings of the motion detector (it always runs as the gate; it reports detections only with `emit`)."""

    type: Literal["motion"] = Field(default="motion", description="Detector type: motion.")
    width: int = Field(160, ge=32, le=640, title="Width", description="Pixels across the grey frame it works on.")
    threshold: int = Field(15, ge=1, le=255, title="Threshold", description="Grey-level change counted as motion.")
    alpha: float = Field(0.1, gt=0, le=1, title="Learning rate", description="Background weight of each frame.")
    min_fraction: float = Field(
        0.0005, ge=0, le=1, title="Minimum area", description="Fraction of a zone that must move to count."
    )
    relearn_fraction: float = Field(
        0.6,
        gt=0,
        le=1,
        title="Relearn",
        description="Above this moving fraction (light switched, camera moved) the background is relearnt.",
    )
    emit: bool = Field(False, title="Emit", description="Report motion detections (normally it only gates).")


@register
class MotionDetector(Detector[MotionSettings]):
    """Marks a frame as moving when enough pixels differ from a slowly updated background."""

    type_key = "motion"
    settings_model = MotionSettings
    gated = False

    def __init__(self, settings: MotionSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        self._bg: npt.NDArray[np.float32] | None = None
        self._tiny_masks: tuple[BoolMask, ...] = ()
        self._updated_ns: int | None = None
        self.moving = True
        self.mask: BoolMask | None = None
        """The moving pixels of the last frame at the motion width (None before the first frame)."""

    def update(self, frame: Frame) -> bool:
        """Learn from the frame and return whether anything moved in a watched zone (first frame: moving)."""
        self._updated_ns = frame.ts_ns
        grey = cv2.GaussianBlur(frame.tiny_grey(self.settings.width), (3, 3), 0).astype(np.float32)
        if self._bg is None or self._bg.shape != grey.shape:
            self._bg = grey.copy()
            size = (grey.shape[1], grey.shape[0])
            self._tiny_masks = self.scene.zone_masks(self.zones, size)
            self.mask = np.zeros(grey.shape, dtype=bool)
            self.moving = True
            return True
        mask: BoolMask = np.asarray(cv2.absdiff(grey, self._bg) > self.settings.threshold)
        cv2.accumulateWeighted(grey, self._bg, self.settings.alpha)
        if mask.mean() > self.settings.relearn_fraction:
            self._bg = grey.copy()
            mask[:] = False
        self.mask = mask
        self.moving = any(_fraction(z, mask) >= self.settings.min_fraction for z in self._tiny_masks)
        return self.moving

    def analyse(self, frame: Frame) -> list[Hit]:
        """Report the moving zones when `emit` is set (the gate itself runs through `update`)."""
        if self._updated_ns != frame.ts_ns:
            self.update(frame)
        if not self.settings.emit or self.mask is None:
            return []
        hits = []
        k = frame.work_size[0] / self.mask.shape[1]
        for i, zone in enumerate(self._tiny_masks):
            fraction = _fraction(zone, self.mask)
            if fraction > 0 and fraction >= self.settings.min_fraction:
                boxes = [_grow(b, k) for b in blob_boxes(zone & self.mask, 2, "motion")]
                hits.append(Hit(i, fraction, boxes, {"fraction": fraction}))
        return hits


def _fraction(zone: BoolMask, moving: BoolMask) -> float:
    """The moving fraction of a zone."""
    area = int(zone.sum())
    return float((zone & moving).sum()) / area if area else 0.0


def _grow(box: Box, k: float) -> Box:
    """A box at the motion width in working coordinates."""
    return Box(round(box.x * k), round(box.y * k), round(box.w * k), round(box.h * k), box.label, box.score)
