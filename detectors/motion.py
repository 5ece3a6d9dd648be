"""Motion: frame differencing against a running background on a tiny grey frame; gates costlier detectors."""

from __future__ import annotations

import math
from functools import lru_cache
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

Floats = npt.NDArray[np.float32]
_SHIFT_CHECK = 0.01  # moving fraction above which the view is checked for a shift (a still scene costs nothing)
_FLAT = 4.0  # grey-level spread under which a quarter has too little texture to vote
_RESPONSE_MIN = 0.2  # phase-correlation peak under which a quarter's shift is not trusted
_AGREE = 1.5  # pixels within which the quarters' shifts agree
_EXPLAINED = 0.75  # a quarter moved as a whole when its shift leaves less than this share of its change


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
    shift_min: float = Field(
        1.0,
        ge=0,
        title="Camera shift",
        description="Pixels (at `width`) the whole view must shift between frames to count as the camera moving.",
    )


@register
class MotionDetector(Detector[MotionSettings]):
    """Marks a frame as moving when enough pixels differ from a slowly updated background."""

    type_key = "motion"
    settings_model = MotionSettings
    gated = False

    def __init__(self, settings: MotionSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        self._bg: Floats | None = None
        self._tiny_masks: tuple[BoolMask, ...] = ()
        self._zone_px: tuple[tuple[npt.NDArray[np.uint8], int], ...] = ()
        """Each zone as a 0/255 mask for OpenCV and its pixel count (counting with OpenCV is ~8x numpy's mean)."""
        self._updated_ns: int | None = None
        self.moving = True
        self.mask: BoolMask | None = None
        """The moving pixels of the last frame at the motion width (None before the first frame)."""
        self.camera_moving = False
        """Whether the whole view shifted since the previous frame (a hand-held, panning or shaken camera)."""
        self._prev: Floats | None = None

    def update(self, frame: Frame) -> bool:
        """Learn from the frame and return whether anything moved in a watched zone (first frame: moving)."""
        self._updated_ns = frame.ts_ns
        grey = cv2.GaussianBlur(frame.tiny_grey(self.settings.width), (3, 3), 0).astype(np.float32)
        if self._bg is None or self._bg.shape != grey.shape:
            self._bg = grey.copy()
            size = (grey.shape[1], grey.shape[0])
            self._tiny_masks = self.scene.zone_masks(self.zones, size)
            self._zone_px = tuple((z.astype(np.uint8) * 255, int(z.sum())) for z in self._tiny_masks)
            self.mask = np.zeros(grey.shape, dtype=bool)
            self.moving, self.camera_moving, self._prev = True, False, grey
            return True
        over = cv2.threshold(cv2.absdiff(grey, self._bg), self.settings.threshold, 255, cv2.THRESH_BINARY)[1]
        changed = np.asarray(over, np.uint8)
        share = cv2.countNonZero(changed) / changed.size
        prev, self._prev = self._prev, grey
        # Only a view that changed widely can have shifted; a few moving objects never make it so.
        self.camera_moving = (
            prev is not None and share > _SHIFT_CHECK and _view_shifted(prev, grey, self.settings.shift_min)
        )
        cv2.accumulateWeighted(grey, self._bg, self.settings.alpha)
        if share > self.settings.relearn_fraction:
            self._bg = grey.copy()
            changed[:] = 0
        self.mask = changed > 0
        self.moving = any(_moving_share(z, n, changed) >= self.settings.min_fraction for z, n in self._zone_px)
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


def _view_shifted(prev: Floats, grey: Floats, shift_min: float) -> bool:
    """Whether three or more quarters (all textured ones but one) moved as a whole by one shift ≥ `shift_min` px.

    Phase correlation per quarter: a camera that moves shifts every textured part of the view alike,
    while objects, smoke or water move only where they are. Flat quarters (night sky, black) abstain.
    """
    h, w = grey.shape
    shifts, voters = [], 0
    for ys, xs in (
        (slice(0, h // 2), slice(0, w // 2)),
        (slice(0, h // 2), slice(w // 2, w)),
        (slice(h // 2, h), slice(0, w // 2)),
        (slice(h // 2, h), slice(w // 2, w)),
    ):
        a, b = prev[ys, xs], grey[ys, xs]
        if min(float(a.std()), float(b.std())) < _FLAT:
            continue
        voters += 1
        (dx, dy), response = cv2.phaseCorrelate(a, b, _window(a.shape))
        if response >= _RESPONSE_MIN and math.hypot(dx, dy) >= shift_min and _explains(a, b, dx, dy):
            shifts.append((dx, dy))
    if len(shifts) < 3 or len(shifts) < voters - 1:
        return False
    mx, my = float(np.median([s[0] for s in shifts])), float(np.median([s[1] for s in shifts]))
    return sum(math.hypot(dx - mx, dy - my) <= _AGREE for dx, dy in shifts) >= 3


def _explains(a: Floats, b: Floats, dx: float, dy: float) -> bool:
    """Whether shifting `b` back by (dx, dy) removes most of its difference from `a` (the whole quarter moved)."""
    back = np.array([[1, 0, -dx], [0, 1, -dy]], np.float32)
    h, w = a.shape
    aligned = cv2.warpAffine(b, back, (w, h), borderMode=cv2.BORDER_REPLICATE)
    m = 2 + math.ceil(max(abs(dx), abs(dy)))
    if 2 * m >= min(h, w):  # a shift as large as the quarter leaves nothing to compare: not a camera move
        return False
    before = float(cv2.absdiff(a, b)[m:-m, m:-m].mean())
    after = float(cv2.absdiff(a, aligned)[m:-m, m:-m].mean())
    return after < _EXPLAINED * before


@lru_cache(maxsize=8)
def _window(shape: tuple[int, ...]) -> Floats:
    """The Hanning window phase correlation uses for a quarter of this shape."""
    return np.asarray(cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F), np.float32)


def _moving_share(zone: npt.NDArray[np.uint8], area: int, changed: npt.NDArray[np.uint8]) -> float:
    """The moving fraction of a zone, from 0/255 masks (the gate's per-frame test, counted by OpenCV)."""
    return cv2.countNonZero(cv2.bitwise_and(zone, changed)) / area if area else 0.0


def _fraction(zone: BoolMask, moving: BoolMask) -> float:
    """The moving fraction of a zone."""
    area = int(zone.sum())
    return float((zone & moving).sum()) / area if area else 0.0


def _grow(box: Box, k: float) -> Box:
    """A box at the motion width in working coordinates."""
    return Box(round(box.x * k), round(box.y * k), round(box.w * k), round(box.h * k), box.label, box.score)
