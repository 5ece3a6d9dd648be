"""Stationary object (illegal parking 车辆乱停, dumped garbage 暴露垃圾): something new that stays longer than T.

Two backgrounds: a long-term one (what the zone normally looks like, learnt over `background_s`
and not under objects being timed) and a short-term one (the last few seconds). A pixel belongs to
a stationary object when it differs from the long-term background but matches the short-term one
and hardly changes from frame to frame (smoke, water and flames churn). Comparisons first scale
the frame by the global gain between the two images (light changes the whole view), and where
there is texture the local structure must differ as well; each such pixel carries the time it
became so. A blob of pixels older than `min_s` fires when it is an object in a stable scene:
- it has an outline of its own: at least `outline_min` of its outline pixels lie on texture of the
  current frame (grey-level variance over 7x7 ≥ 16). A parked car or a bag has sharp edges; the
  last haze of smoke fades softly into what is around it;
- what surrounds it (its box grown by half its size on every side) is undisturbed: at most
  `surround_max` of it is new or churning. A car parks on a road that looks as before; a piece of
  debris resting in flood water, or a patch of smoke, sits in a scene that changed around it too.
After `absorb_s` a reported object becomes part of the long-term background (it is the new normal).
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field

from detectors.base import NS, Detector, DetectorSettings, Hit, blob_boxes
from detectors.frame import Frame
from detectors.registry import register
from detectors.scene import BoolMask, Scene
from gateway.model import Box

Floats = npt.NDArray[np.float32]
_OPEN = np.ones((3, 3), np.uint8)
_TEXTURE = 16.0  # local grey-level variance (4 levels spread) above which structure is compared


class StationarySettings(DetectorSettings):
    """Settings of the stationary-object detector."""

    type: Literal["stationary"] = Field(default="stationary", description="Detector type: stationary.")
    interval_s: float = Field(1.0, ge=0, title="Interval", description="Seconds between analysed frames.")
    min_s: float = Field(60.0, gt=0, title="Stay", description="Seconds an object must stay to be reported.")
    min_area: float = Field(
        400.0, gt=0, title="Object area", description="Least object area in frame pixels (a bag, a car)."
    )
    threshold: float = Field(25.0, gt=0, title="Threshold", description="Grey-level difference counted as new.")
    short_s: float = Field(3.0, gt=0, title="Short term", description="Time constant of the short-term background.")
    background_s: float = Field(
        600.0, gt=0, title="Background", description="Time constant of the long-term background."
    )
    structure_max: float = Field(
        0.5,
        ge=-1,
        le=1,
        title="Structure",
        description="Where there is texture, local correlation with the long-term view under which it is new.",
    )
    outline_min: float = Field(
        0.5,
        ge=0,
        le=1,
        title="Outline",
        description="Least share of an object's outline that is a sharp edge in the frame (smoke haze is soft).",
    )
    surround_max: float = Field(
        0.12,
        ge=0,
        le=1,
        title="Surroundings",
        description="Largest share of the ring around an object that may be new or churning (a stable scene).",
    )
    absorb_s: float = Field(
        3600.0, gt=0, title="Absorb", description="Seconds after which a stationary object becomes background."
    )


@register
class StationaryDetector(Detector[StationarySettings]):
    """Fires on zones holding a new, unmoving blob older than `min_s`."""

    type_key = "stationary"
    settings_model = StationarySettings
    gated = False  # a parked car does not move
    learns_view = True

    def __init__(self, settings: StationarySettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        self._long: Floats | None = None
        self._short: Floats | None = None
        self._since: npt.NDArray[np.float64] | None = None
        self._activity: Floats | None = None
        self._prev: Floats | None = None
        self._prev_ns = 0

    def relearn(self) -> None:
        """Forget both backgrounds and the timers (the camera moved: nothing seen so far is where it was)."""
        self._long = self._short = self._since = self._activity = self._prev = None

    def analyse(self, frame: Frame) -> list[Hit]:
        """Update both backgrounds and the per-pixel timers; return zones with old enough objects."""
        s = self.settings
        grey = cv2.GaussianBlur(frame.grey, (3, 3), 0).astype(np.float32)
        if self._long is None or self._short is None or self._since is None or self._long.shape != grey.shape:
            self._long, self._short, self._prev = grey.copy(), grey.copy(), grey
            self._since = np.full(grey.shape, np.nan)
            self._activity = np.zeros(grey.shape, np.float32)
            self._prev_ns = frame.ts_ns
            return []
        dt = max(0, frame.ts_ns - self._prev_ns) / NS
        self._prev_ns = frame.ts_ns
        now = frame.ts_ns / NS
        new, own_texture = self._new(grey, self._long)
        settled = np.abs(grey * _gain(self._short, grey) - self._short) < s.threshold / 2
        still = self._still(grey, dt)
        disturbed = new | ~still
        raw = (new & settled & still).astype(np.uint8)
        static = cv2.morphologyEx(raw, cv2.MORPH_OPEN, _OPEN).astype(bool)
        self._since[~static] = np.nan
        self._since[static & np.isnan(self._since)] = now
        age = np.where(static, now - np.nan_to_num(self._since, nan=now), 0.0)
        self._learn(grey, new, age, dt)
        min_px = max(4, round(s.min_area / frame.scale**2))
        old = age >= s.min_s
        hits = []
        for i, zone in enumerate(self.masks(frame)):
            mask = old & zone
            edge = mask & ~cv2.erode(mask.astype(np.uint8), _OPEN).astype(bool)
            boxes = [b for b in blob_boxes(mask, min_px, "object") if self._is_object(b, edge, own_texture, disturbed)]
            if boxes:
                oldest = float(age[old & zone].max())
                values = {"age_s": oldest, "objects": float(len(boxes))}
                hits.append(Hit(i, min(1.0, oldest / s.min_s / 2), boxes, values))
        return hits

    def _is_object(self, box: Box, edge: BoolMask, own_texture: BoolMask, disturbed: BoolMask) -> bool:
        """Whether a blob has a sharp outline of its own and sits in undisturbed surroundings (see the module doc)."""
        h, w = disturbed.shape
        inner = (slice(box.y, box.y + box.h), slice(box.x, box.x + box.w))
        outline = edge[inner]
        sharp = int((outline & own_texture[inner]).sum()) / max(1, int(outline.sum()))
        if sharp < self.settings.outline_min:
            return False
        y0, y1 = max(0, box.y - box.h // 2), min(h, box.y + box.h + box.h // 2)
        x0, x1 = max(0, box.x - box.w // 2), min(w, box.x + box.w + box.w // 2)
        ring_px = (y1 - y0) * (x1 - x0) - box.w * box.h
        if ring_px <= 0:
            return True  # the object fills the view: nothing around it to judge
        ring = int(disturbed[y0:y1, x0:x1].sum()) - int(disturbed[inner].sum())
        return bool(ring / ring_px <= self.settings.surround_max)

    def _new(self, grey: Floats, long: Floats) -> tuple[BoolMask, BoolMask]:
        """Pixels unlike the long-term view once the light is accounted for, and where the frame has texture.

        The frame is first scaled by the global gain between the two (dawn, dusk, clouds, a
        timelapse); where either image has texture, the local structure must differ too
        (zero-mean correlation below `structure_max`): a shadow or a lamp changes brightness but
        keeps the edges, an object brings edges of its own.
        """
        s = self.settings
        changed = np.abs(grey * _gain(long, grey) - long) >= s.threshold
        corr, textured, own = _local_correlation(grey, long)
        out: BoolMask = changed & (~textured | (corr < s.structure_max))
        return out, own

    def _still(self, grey: Floats, dt: float) -> BoolMask:
        """Pixels that hardly change from frame to frame (smoke, water and flames churn; a parked car does not)."""
        assert self._activity is not None and self._prev is not None
        change = np.abs(grey * _gain(self._prev, grey) - self._prev)
        cv2.accumulateWeighted(change, self._activity, 1.0 - math.exp(-dt / self.settings.short_s))
        self._prev = grey
        out: BoolMask = self._activity < self.settings.threshold / 4
        return out

    def _learn(self, grey: Floats, new: npt.NDArray[np.bool_], age: npt.NDArray[np.float64], dt: float) -> None:
        """Short term learns everywhere; long term only where nothing new is timed, or once absorbed."""
        assert self._short is not None and self._long is not None
        s = self.settings
        cv2.accumulateWeighted(grey, self._short, 1.0 - math.exp(-dt / s.short_s))
        learn = ~new | (age >= s.absorb_s)
        w = 1.0 - math.exp(-dt / s.background_s)
        self._long[learn] += w * (grey[learn] - self._long[learn])
        absorbed = age >= s.absorb_s
        self._long[absorbed] = grey[absorbed]


def _gain(reference: Floats, grey: Floats) -> float:
    """The global gain that brings the frame's brightness to the reference's (light changes the whole view)."""
    return float(reference.mean()) / max(float(grey.mean()), 1.0)


def _local_correlation(a: Floats, b: Floats) -> tuple[Floats, BoolMask, BoolMask]:
    """Zero-mean correlation of two images over 7x7 windows, where either has texture, and where `a` has."""
    k = (7, 7)
    ma, mb = cv2.blur(a, k), cv2.blur(b, k)
    va = cv2.blur(a * a, k) - ma * ma
    vb = cv2.blur(b * b, k) - mb * mb
    cov = cv2.blur(a * b, k) - ma * mb
    own: BoolMask = va >= _TEXTURE
    textured: BoolMask = own | (vb >= _TEXTURE)
    corr = cov / np.sqrt(np.maximum(va, 1e-3) * np.maximum(vb, 1e-3))
    return np.asarray(corr, np.float32), textured, own
