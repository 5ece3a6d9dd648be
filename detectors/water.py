"""Water / flooding: how much of a zone (an underpass floor, a gauge strip) no longer looks like it did dry.

The dry reference is the zone as first seen, then a slow average taken only while the zone is dry.
A pixel is covered when its colour (Lab, blurred) is far from the reference and, with `hue`, when
it has the expected water colour. The zone reports the covered fraction and the level: the height,
from the bottom of the zone, up to which rows are mostly covered (for a vertical gauge strip).
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
        self._holds = [Hold(grace_s=2 * settings.interval_s) for _ in self.zones]

    def relearn(self) -> None:
        """Forget the dry reference and the holds (the camera moved: the next frame is the new dry view)."""
        self._ref = None
        self._holds = [Hold(grace_s=2 * self.settings.interval_s) for _ in self.zones]

    def analyse(self, frame: Frame) -> list[Hit]:
        """Compare the zone with its dry reference; return zones covered for long enough."""
        lab = cv2.cvtColor(cv2.GaussianBlur(frame.small, (5, 5), 0), cv2.COLOR_BGR2LAB).astype(np.float32)
        if self._ref is None or self._ref.shape != lab.shape:
            self._ref, self._ref_ns = lab, frame.ts_ns
            return []
        covered = self._covered(frame, lab, self._ref)
        hits, dry = [], np.ones(covered.shape, bool)
        for i, zone in enumerate(self.masks(frame)):
            fraction = float((covered & zone).sum()) / max(1, int(zone.sum()))
            if fraction > self.settings.dry_max:
                dry &= ~zone
            held = self._holds[i].update(frame.ts_ns, fraction >= self.settings.covered_min)
            if fraction >= self.settings.covered_min and held >= self.settings.hold_s:
                values = {"covered": fraction, "level": water_level(covered, zone)}
                hits.append(Hit(i, fraction, blob_boxes(covered & zone, 16, "water", fraction), values))
        self._learn(lab, dry, frame.ts_ns)
        return hits

    def _covered(self, frame: Frame, lab: Floats, ref: Floats) -> BoolMask:
        """Pixels far from the dry reference (and of the water hue, when one is set)."""
        distance = np.sqrt(((lab - ref) ** 2).sum(axis=2))
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
