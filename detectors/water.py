"""Water / flooding: how much of a zone (an underpass floor, a gauge strip) no longer looks like it did dry.

The dry reference is the zone as first seen, then a slow average taken only while the zone is dry.
A pixel is covered when its colour (Lab, blurred) is far from the reference and, with `hue`, when
it has the expected water colour. The zone reports the covered fraction and the level: the height,
from the bottom of the zone, up to which rows are mostly covered (for a vertical gauge strip).

Two look-alikes change a zone's colour for seconds too, and are told apart by how the change looks:
- light added over the surface (smoke, fog, steam, headlight glare) makes it brighter without
  changing its hue, while water absorbs (a wet or flooded surface gets darker) or tints it: a zone
  whose covered pixels are mostly such a grey brightening (`glow_max`) is not flooded;
- water that has risen keeps its look from one second to the next, while a moving view (a
  hand-held camera before the motion detector sees it shift) or a churning plume changes the covered
  pixels about as much as they differ from the dry look: the median colour change of the covered
  pixels since the previous analysed frame must stay under `churn_max` of `distance_min`.
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
from detectors.scene import BoolMask, Scene

Floats = npt.NDArray[np.float32]
_HUES = {"any": None, "blue": (85, 135), "muddy": (5, 35)}


class WaterSettings(DetectorSettings):
    """Settings of the flooding detector."""

    type: Literal["water"] = Field(default="water", description="Detector type: water.")
    interval_s: float = Field(1.0, ge=0, title="Interval", description="Water rises slowly: analyse once a second.")
    distance_min: float = Field(
        25.0, gt=0, title="Colour distance", description="Least Lab distance from the dry look to count as covered."
    )
    hue: Literal["any", "blue", "muddy"] = Field(
        "any", title="Water colour", description="Also require a water hue: clear/blue, muddy/brown, or any."
    )
    covered_min: float = Field(0.3, gt=0, le=1, title="Covered", description="Least covered fraction that fires.")
    hold_s: float = Field(5.0, ge=0, title="Hold", description="Seconds the zone must stay covered before firing.")
    reference_s: float = Field(
        600.0, gt=0, title="Reference", description="Time constant of the dry reference (learnt only while dry)."
    )
    dry_max: float = Field(0.05, ge=0, le=1, title="Dry", description="Covered fraction under which the zone is dry.")
    glow_max: float = Field(
        0.6,
        gt=0,
        le=1,
        title="Glow",
        description="Share of covered pixels only brighter and greyer (smoke, fog, glare) above which it is not water.",
    )
    churn_max: float = Field(
        0.8,
        gt=0,
        title="Churn",
        description="Median colour change of covered pixels between analysed frames, as a share of `distance_min`, "
        "above which the zone churns or the view moves (not standing water).",
    )


@register
class WaterDetector(Detector[WaterSettings]):
    """Fires on a zone that has stayed covered by something other than its dry look for `hold_s`."""

    type_key = "water"
    settings_model = WaterSettings
    gated = False  # standing water does not move
    learns_view = True

    def __init__(self, settings: WaterSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        self._ref: Floats | None = None
        self._ref_ns = 0
        self._prev: Floats | None = None
        self._holds = [Hold(grace_s=2 * settings.interval_s) for _ in self.zones]

    def relearn(self) -> None:
        """Forget the dry reference and the holds (the camera moved: the next frame is the new dry view)."""
        self._ref = self._prev = None
        self._holds = [Hold(grace_s=2 * self.settings.interval_s) for _ in self.zones]

    def analyse(self, frame: Frame) -> list[Hit]:
        """Compare the zone with its dry reference; return zones covered for long enough."""
        lab = cv2.cvtColor(cv2.GaussianBlur(frame.small, (5, 5), 0), cv2.COLOR_BGR2LAB).astype(np.float32)
        prev, self._prev = self._prev, lab
        if self._ref is None or prev is None or self._ref.shape != lab.shape or prev.shape != lab.shape:
            self._ref, self._ref_ns = lab, frame.ts_ns
            return []
        s = self.settings
        diff = lab - self._ref
        covered = self._covered(frame, diff)
        glow = _glow(diff)
        step = np.sqrt(((lab - prev) ** 2).sum(axis=2))
        hits, dry = [], np.ones(covered.shape, bool)
        for i, zone in enumerate(self.masks(frame)):
            wet = covered & zone
            n = int(wet.sum())
            fraction = n / max(1, int(zone.sum()))
            if fraction > s.dry_max:
                dry &= ~zone
            glow_share = float((glow & wet).sum()) / max(1, n)
            churn = float(np.median(step[wet])) / s.distance_min if n else 0.0
            water = fraction >= s.covered_min and glow_share <= s.glow_max and churn <= s.churn_max
            held = self._holds[i].update(frame.ts_ns, water)
            if water and held >= s.hold_s:
                values = {"covered": fraction, "level": water_level(covered, zone), "glow": glow_share, "churn": churn}
                hits.append(Hit(i, fraction, blob_boxes(wet, 16, "water", fraction), values))
        self._learn(lab, dry, frame.ts_ns)
        return hits

    def _covered(self, frame: Frame, diff: Floats) -> BoolMask:
        """Pixels far from the dry reference (and of the water hue, when one is set)."""
        distance = np.sqrt((diff**2).sum(axis=2))
        covered: BoolMask = distance >= self.settings.distance_min
        band = _HUES[self.settings.hue]
        if band is not None:
            hue = frame.hsv[..., 0]
            covered &= (hue >= band[0]) & (hue <= band[1])
        return covered

    def _learn(self, lab: Floats, dry: BoolMask, ts_ns: int) -> None:
        """Blend the frame into the reference where the zones are dry."""
        assert self._ref is not None
        weight = 1.0 - math.exp(-max(0, ts_ns - self._ref_ns) / NS / self.settings.reference_s)
        self._ref_ns = ts_ns
        self._ref[dry] += weight * (lab[dry] - self._ref[dry])


def _glow(diff: Floats) -> BoolMask:
    """Pixels that got brighter with less change of hue than of brightness: light added (smoke, fog, glare)."""
    brighter = diff[..., 0]
    chroma = np.sqrt(diff[..., 1] ** 2 + diff[..., 2] ** 2)
    out: BoolMask = (brighter > 0) & (chroma < 0.5 * brighter)
    return out


def water_level(covered: BoolMask, zone: BoolMask) -> float:
    """The height (0 to 1 of the zone) up to which rows, counted from the bottom, are mostly covered."""
    rows = np.nonzero(zone.any(axis=1))[0]
    if rows.size == 0:
        return 0.0
    top, bottom = int(rows[0]), int(rows[-1])
    level = 0
    for y in range(bottom, top - 1, -1):
        inside = zone[y]
        if (covered[y] & inside).sum() * 2 < inside.sum():
            break
        level += 1
    return level / (bottom - top + 1)
