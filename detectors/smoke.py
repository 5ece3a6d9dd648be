"""Smoke: grey, low-chroma change that softens the edges behind it, persists, and grows or drifts upward.

Each pixel is a candidate when it differs from the learnt background, has little colour (smoke is
grey, white or black) and adds no sharp detail (smoke blurs what is behind it; a person, a car or a
switching lamp brings edges of its own). Candidates averaged over about a second make the region;
the zone fires when the region has held for `hold_s` and, over the last `window_s`, its pixels
moved upward (new candidates appear above where old ones vanish) while it did not dissipate.
"""

from __future__ import annotations

import math
from collections import deque
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
_OPEN = np.ones((3, 3), np.uint8)


class SmokeSettings(DetectorSettings):
    """Settings of the smoke detector; defaults tuned on the whole development set (docs/detectors.md)."""

    type: Literal["smoke"] = Field(default="smoke", description="Detector type: smoke.")
    diff_min: float = Field(10.0, gt=0, title="Change", description="Least grey-level change from the background.")
    chroma_max: int = Field(
        40, ge=0, le=255, title="Chroma maximum", description="Most colour (max-min of B, G, R) a smoke pixel has."
    )
    detail_margin: float = Field(
        3.0, ge=0, title="Detail margin", description="How much sharper than the background a smoke pixel may be."
    )
    edge_factor: float = Field(
        2.0, ge=0, title="Edge factor", description="Extra change needed per unit of background detail (camera shake)."
    )
    background_s: float = Field(
        20.0, gt=0, title="Background", description="Time constant of the background where no smoke is seen."
    )
    persistence_s: float = Field(1.0, gt=0, title="Persistence", description="Time constant of the candidate average.")
    persistence_min: float = Field(0.4, gt=0, le=1, title="Persistence minimum", description="Share of recent frames.")
    min_area: float = Field(0.01, gt=0, le=1, title="Minimum area", description="Least fraction of the zone.")
    hold_s: float = Field(2.0, ge=0, title="Hold", description="Seconds the region must hold before firing.")
    window_s: float = Field(3.0, gt=0, title="Window", description="Seconds over which growth and rise are judged.")
    growth_min: float = Field(
        -0.3, ge=-1, title="Growth", description="Least relative area change over the window (negative: may thin)."
    )
    rise_min: float = Field(
        1.0, ge=0, title="Rise", description="Least mean upward drift per frame (working pixels) over the window."
    )


@register
class SmokeDetector(Detector[SmokeSettings]):
    """Fires on a zone where a grey, soft, persistent region drifts upward without dissipating."""

    type_key = "smoke"
    settings_model = SmokeSettings

    def __init__(self, settings: SmokeSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        self._bg: Floats | None = None
        self._persist: Floats | None = None
        self._prev_region: BoolMask | None = None
        self._prev_ns = 0
        self._history: list[deque[tuple[int, float, float]]] = [deque() for _ in self.zones]
        self._holds = [Hold(grace_s=0.5) for _ in self.zones]

    def analyse(self, frame: Frame) -> list[Hit]:
        """Update background and region with this frame; return zones where smoke holds and rises."""
        s = self.settings
        grey = frame.grey.astype(np.float32)
        dt = (frame.ts_ns - self._prev_ns) / NS if self._bg is not None else 0.0
        self._prev_ns = frame.ts_ns
        if self._bg is None or self._bg.shape != grey.shape:
            self._bg = grey.copy()
            self._persist = np.zeros(grey.shape, np.float32)
            return []
        candidate = self._candidates(frame, grey, self._bg)
        self._learn(grey, candidate, dt)
        assert self._persist is not None
        cv2.accumulateWeighted(candidate.astype(np.float32), self._persist, _weight(dt, s.persistence_s))
        region = self._persist >= s.persistence_min
        prev, self._prev_region = self._prev_region, region
        drift = _upward_drift(prev, region) if prev is not None else 0.0
        hits = []
        for i, zone in enumerate(self.masks(frame)):
            hit = self._zone(i, region & zone, int(zone.sum()), drift)
            if hit is not None:
                hits.append(hit)
        return hits

    def _candidates(self, frame: Frame, grey: Floats, bg: Floats) -> BoolMask:
        """Blobs of pixels changed beyond shake, nearly colourless, and no sharper than the background."""
        s = self.settings
        small = frame.small
        chroma = small.max(axis=2).astype(np.int16) - small.min(axis=2)
        bg_detail = _detail(bg)
        changed = np.abs(grey - bg) >= s.diff_min + s.edge_factor * bg_detail
        soft = _detail(grey) <= bg_detail + s.detail_margin
        raw = (changed & (chroma <= s.chroma_max) & soft).astype(np.uint8)
        out: BoolMask = cv2.morphologyEx(raw, cv2.MORPH_OPEN, _OPEN).astype(bool)
        return out

    def _learn(self, grey: Floats, candidate: BoolMask, dt: float) -> None:
        """Update the background, three times slower under candidate pixels so smoke is learnt late."""
        assert self._bg is not None
        w = _weight(dt, self.settings.background_s)
        rate = np.where(candidate, w / 3, w).astype(np.float32)
        self._bg += rate * (grey - self._bg)

    def _zone(self, i: int, region: BoolMask, zone_px: int, drift: float) -> Hit | None:
        """Track one zone's area and drift over the window; return a hit when smoke is established."""
        s = self.settings
        ts = self._prev_ns
        area = float(region.sum()) / zone_px if zone_px else 0.0
        history = self._history[i]
        history.append((ts, area, drift))
        while history and ts - history[0][0] > s.window_s * NS:
            history.popleft()
        held = self._holds[i].update(ts, area >= s.min_area)
        if held < s.hold_s or not history:
            return None
        first_area = history[0][1]
        growth = (area - first_area) / first_area if first_area > 0 else 0.0
        rise = sum(h[2] for h in history) / len(history)
        if growth < s.growth_min or rise < s.rise_min:
            return None
        boxes = blob_boxes(region, max(4, round(s.min_area * zone_px / 4)), "smoke", area)
        return Hit(i, min(1.0, area / s.min_area / 10 + 0.5), boxes, {"area": area, "growth": growth, "rise": rise})


def _weight(dt: float, tau: float) -> float:
    """The exponential-average weight of a sample `dt` seconds after the previous one."""
    return 1.0 - math.exp(-max(dt, 0.0) / tau)


def _detail(grey: Floats) -> Floats:
    """Local sharpness: mean absolute difference from a 5x5 blur, averaged over 5x5."""
    high = np.abs(grey - cv2.blur(grey, (5, 5)))
    return np.asarray(cv2.blur(high, (5, 5)), dtype=np.float32)


def _upward_drift(before: BoolMask, after: BoolMask) -> float:
    """How far above the vanished pixels the newly appeared ones are (working pixels; up is positive)."""
    appeared = np.nonzero(after & ~before)[0]
    vanished = np.nonzero(before & ~after)[0]
    if appeared.size < 4 or vanished.size < 4:
        return 0.0
    return float(vanished.mean() - appeared.mean())
