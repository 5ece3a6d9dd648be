"""Smoke: grey, low-chroma change that softens the edges behind it, persists, and whose content rises.

Each pixel is a candidate when it differs from the learnt background, has little colour (smoke is
grey, white or black) and adds no sharp detail (smoke blurs what is behind it; a person, a car or a
switching lamp brings edges of its own). Candidates averaged over about a second make the region,
of which only connected parts of at least `min_area` count (a plume is one body; walkers are many
small ones). The zone fires when the region has held for `hold_s` and, over the last `window_s`, the content
inside it moved upward on average (dense optical flow on the 160-pixel grey frame: hot smoke rises,
while walkers, water and lighting changes move every way or not at all, so their mean upward speed
stays near zero) while it did not dissipate.
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
from detectors.frame import Frame, Image
from detectors.registry import register
from detectors.scene import BoolMask, Scene

Floats = npt.NDArray[np.float32]
_OPEN = np.ones((3, 3), np.uint8)
FLOW_WIDTH = 160
"""Width of the grey frame the optical flow runs on (the size motion and tamper already use)."""


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
        1.0,
        ge=0,
        title="Rise",
        description="Least median upward speed of the region's content over the window (% of frame height per second).",
    )


@register
class SmokeDetector(Detector[SmokeSettings]):
    """Fires on a zone where a grey, soft, persistent plume keeps rising without dissipating."""

    type_key = "smoke"
    settings_model = SmokeSettings

    def __init__(self, settings: SmokeSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        self._bg: Floats | None = None
        self._persist: Floats | None = None
        self._prev_ns = 0
        self._tiny: tuple[Image, int] | None = None
        self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._history: list[deque[tuple[int, float, float]]] = [deque() for _ in self.zones]
        self._holds = [Hold(grace_s=0.5) for _ in self.zones]

    def still(self, frame: Frame) -> None:
        """Keep the flow reference current across frames skipped as still."""
        self._tiny = (frame.tiny_grey(FLOW_WIDTH), frame.ts_ns)

    def analyse(self, frame: Frame) -> list[Hit]:
        """Update background and region with this frame; return zones where smoke holds and rises."""
        s = self.settings
        grey = frame.grey.astype(np.float32)
        dt = (frame.ts_ns - self._prev_ns) / NS if self._bg is not None else 0.0
        self._prev_ns = frame.ts_ns
        if self._bg is None or self._persist is None or self._bg.shape != grey.shape:
            self._bg = grey.copy()
            self._persist = np.zeros(grey.shape, np.float32)
            self.still(frame)
            return []
        candidate = self._candidates(frame, grey, self._bg)
        self._learn(grey, candidate, dt)
        cv2.accumulateWeighted(candidate.astype(np.float32), self._persist, _weight(dt, s.persistence_s))
        region = self._persist >= s.persistence_min
        masks = self.masks(frame)
        sizes = [int(zone.sum()) for zone in masks]
        zones = [_plumes(region & zone, max(1, round(s.min_area * n))) for zone, n in zip(masks, sizes, strict=True)]
        areas = [float(r.sum()) / n if n else 0.0 for r, n in zip(zones, sizes, strict=True)]
        rises = self._rises(frame, [r if a >= s.min_area else None for r, a in zip(zones, areas, strict=True)])
        hits = []
        for i, (zone_region, zone_px) in enumerate(zip(zones, sizes, strict=True)):
            hit = self._zone(i, zone_region, zone_px, areas[i], rises[i])
            if hit is not None:
                hits.append(hit)
        return hits

    def _rises(self, frame: Frame, regions: list[BoolMask | None]) -> list[float]:
        """Per zone, the mean upward speed of the content inside its region (% of frame height per second).

        Dense optical flow (DIS, ultrafast preset) between the previous and this 160-pixel grey
        frame, computed only when some zone holds a region large enough to matter.
        """
        tiny = frame.tiny_grey(FLOW_WIDTH)
        prev, self._tiny = self._tiny, (tiny, frame.ts_ns)
        if prev is None or prev[0].shape != tiny.shape or prev[1] >= frame.ts_ns or all(r is None for r in regions):
            return [0.0] * len(regions)
        seconds = (frame.ts_ns - prev[1]) / NS
        flow = np.asarray(self._flow.calc(prev[0], tiny, np.zeros((*tiny.shape, 2), np.float32)), np.float32)
        up = -flow[..., 1]
        size = (tiny.shape[1], tiny.shape[0])
        insides = [
            None if r is None else cv2.resize(r.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
            for r in regions
        ]
        anywhere = np.zeros(tiny.shape, bool)
        for inside in insides:
            if inside is not None:
                anywhere |= inside
        # The scene's own vertical motion (a shaking or panning camera moves region and background alike).
        scene = float(np.median(up[~anywhere])) if not anywhere.all() else 0.0
        out = []
        for inside in insides:
            speed = float(up[inside].mean()) - scene if inside is not None and inside.any() else 0.0
            out.append(100.0 * speed / tiny.shape[0] / seconds)
        return out

    def _candidates(self, frame: Frame, grey: Floats, bg: Floats) -> BoolMask:
        """Blobs of pixels changed beyond shake, nearly colourless, and no sharper than the background."""
        s = self.settings
        b, g, r = cv2.split(frame.small)
        chroma = cv2.subtract(cv2.max(cv2.max(b, g), r), cv2.min(cv2.min(b, g), r))  # numpy's axis-2 max is slow
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

    def _zone(self, i: int, region: BoolMask, zone_px: int, area: float, speed: float) -> Hit | None:
        """Track one zone's area and upward speed over the window; return a hit when smoke is established."""
        s = self.settings
        ts = self._prev_ns
        history = self._history[i]
        history.append((ts, area, speed))
        while history and ts - history[0][0] > s.window_s * NS:
            history.popleft()
        held = self._holds[i].update(ts, area >= s.min_area)
        if held < s.hold_s or not history:
            return None
        first_area = history[0][1]
        growth = (area - first_area) / first_area if first_area > 0 else 0.0
        rise = float(np.median([h[2] for h in history]))
        if growth < s.growth_min or rise < s.rise_min:
            return None
        boxes = blob_boxes(region, max(4, round(s.min_area * zone_px / 4)), "smoke", area)
        values = {"area": area, "growth": growth, "rise": rise}
        return Hit(i, min(1.0, area / s.min_area / 10 + 0.5), boxes, values)


def _weight(dt: float, tau: float) -> float:
    """The exponential-average weight of a sample `dt` seconds after the previous one."""
    return 1.0 - math.exp(-max(dt, 0.0) / tau)


def _plumes(region: BoolMask, min_px: int) -> BoolMask:
    """The connected parts of a region with at least `min_px` pixels: smoke is one plume, not a scatter of walkers."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_px
    keep[0] = False
    out: BoolMask = keep[labels]
    return out


def _detail(grey: Floats) -> Floats:
    """Local sharpness: mean absolute difference from a 5x5 blur, averaged over 5x5."""
    high = np.abs(grey - cv2.blur(grey, (5, 5)))
    return np.asarray(cv2.blur(high, (5, 5)), dtype=np.float32)
