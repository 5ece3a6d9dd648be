"""Camera tamper: lens covered (or dark), defocused, moved (scene changed) or frozen frames.

Works on a 160-pixel grey frame. Covered: almost no contrast left. Defocused: sharpness (variance
of the Laplacian) far below its learnt normal. Moved: the frame no longer correlates with the
learnt reference view (zero-mean correlation, so lighting changes do not count) *and* the new view
is itself steady: it correlates with the view seen `steady_s` to twice that ago. A camera that was
turned or knocked shows a new background that stays; a person, a plume or a crowd filling the view,
or a hand-held camera wandering, keeps changing and is not a moved camera. Frozen: the frame
is identical to the previous one. References are learnt only while the camera is healthy. Each
condition must hold for `hold_s`; it is reported on the whole frame with the kind as the box label.
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
from detectors.scene import WHOLE_FRAME, Scene, Zone
from gateway.model import Box

Floats = npt.NDArray[np.float32]
KINDS = ("covered", "defocused", "moved", "frozen")


class TamperSettings(DetectorSettings):
    """Settings of the tamper detector."""

    type: Literal["tamper"] = Field(default="tamper", description="Detector type: tamper.")
    interval_s: float = Field(0.5, ge=0, title="Interval", description="Seconds between analysed frames.")
    width: int = Field(160, ge=32, le=640, title="Width", description="Pixels across the grey frame it works on.")
    covered_std: float = Field(
        8.0, ge=0, title="Covered", description="Grey-level spread under which the lens is covered."
    )
    focus_ratio: float = Field(
        0.25, gt=0, lt=1, title="Defocus", description="Sharpness below this share of normal means defocused."
    )
    moved_corr: float = Field(
        0.5, gt=-1, lt=1, title="Moved", description="Correlation with the reference view under which it moved."
    )
    steady_s: float = Field(
        2.0, gt=0, title="Steady time", description="Seconds back (to twice this) the new view is compared with."
    )
    steady_corr: float = Field(
        0.85,
        gt=-1,
        lt=1,
        title="Steady",
        description="Correlation with the view `steady_s` ago above which a changed view has stayed (moved).",
    )
    frozen_diff: float = Field(
        0.05, ge=0, title="Frozen", description="Mean grey change between frames under which the image is frozen."
    )
    hold_s: float = Field(10.0, ge=0, title="Hold", description="Seconds a condition must hold before it is reported.")
    reference_s: float = Field(
        300.0, gt=0, title="Reference", description="Time constant of the learnt view and sharpness."
    )


@register
class TamperDetector(Detector[TamperSettings]):
    """Reports covered, defocused, moved and frozen conditions of the whole frame."""

    type_key = "tamper"
    settings_model = TamperSettings
    gated = False  # a covered or frozen camera shows no motion

    def __init__(self, settings: TamperSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        corners = ((0, 0), (scene.width, 0), (scene.width, scene.height), (0, scene.height))
        self.zones = (Zone(WHOLE_FRAME, corners, scene.grid),)
        self._ref: Floats | None = None
        self._sharpness = 0.0
        self._prev: Floats | None = None
        self._prev_ns = 0
        self._recent: tuple[int, Floats] | None = None
        self._older: tuple[int, Floats] | None = None
        self._holds = {kind: Hold(grace_s=settings.interval_s * 2) for kind in KINDS}

    def analyse(self, frame: Frame) -> list[Hit]:
        """Measure the frame, update the held conditions and report those held long enough."""
        grey = frame.tiny_grey(self.settings.width).astype(np.float32)
        prev, self._prev = self._prev, grey
        if self._ref is None or prev is None or self._ref.shape != grey.shape:
            self._ref, self._sharpness, self._prev_ns = grey.copy(), _sharpness(grey), frame.ts_ns
            return []
        measures = self._measure(grey, prev, self._steady_view(grey, frame.ts_ns))
        conditions = self._conditions(measures)
        if not any(conditions.values()):
            self._learn(grey, measures["sharpness"], frame.ts_ns)
        hits = []
        w, h = frame.work_size
        for kind, condition in conditions.items():
            held = self._holds[kind].update(frame.ts_ns, condition)
            if condition and held >= self.settings.hold_s:
                values = {kind: 1.0, **measures}
                hits.append(Hit(0, 1.0, [Box(0, 0, w, h, kind)], values))
        return hits

    def _steady_view(self, grey: Floats, ts_ns: int) -> Floats:
        """The view `steady_s` to twice that ago (early on: the oldest); a snapshot is kept every `steady_s`."""
        if self._recent is None or ts_ns < self._recent[0]:
            self._recent, self._older = (ts_ns, grey), None
        elif ts_ns - self._recent[0] >= self.settings.steady_s * NS:
            self._older, self._recent = self._recent, (ts_ns, grey)
        return (self._older or self._recent)[1]

    def _measure(self, grey: Floats, prev: Floats, steady: Floats) -> dict[str, float]:
        """Contrast, sharpness, correlation with the reference and the recent view, and change since the last frame."""
        assert self._ref is not None
        return {
            "contrast": float(grey.std()),
            "sharpness": _sharpness(grey),
            "normal_sharpness": self._sharpness,
            "correlation": _correlation(grey, self._ref),
            "steady": _correlation(grey, steady),
            "change": float(np.abs(grey - prev).mean()),
        }

    def _conditions(self, m: dict[str, float]) -> dict[str, bool]:
        """Which tamper conditions the measures show (covered excludes the others)."""
        s = self.settings
        covered = m["contrast"] < s.covered_std
        return {
            "covered": covered,
            "defocused": not covered and m["sharpness"] < s.focus_ratio * m["normal_sharpness"],
            "moved": not covered and m["correlation"] < s.moved_corr and m["steady"] >= s.steady_corr,
            "frozen": not covered and m["change"] <= s.frozen_diff,
        }

    def _learn(self, grey: Floats, sharpness: float, ts_ns: int) -> None:
        """Blend a healthy frame into the reference view and normal sharpness."""
        assert self._ref is not None
        weight = 1.0 - math.exp(-max(0, ts_ns - self._prev_ns) / NS / self.settings.reference_s)
        self._prev_ns = ts_ns
        cv2.accumulateWeighted(grey, self._ref, weight)
        self._sharpness += weight * (sharpness - self._sharpness)


def _sharpness(grey: Floats) -> float:
    """Variance of the Laplacian after a light blur (so pixel noise does not pass for detail)."""
    return float(cv2.Laplacian(cv2.GaussianBlur(grey, (3, 3), 0), cv2.CV_32F).var())


def _correlation(a: Floats, b: Floats) -> float:
    """Zero-mean normalised correlation of two equally sized images (1: same view)."""
    da, db = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float((da * da).sum()) * float((db * db).sum()))
    return float((da * db).sum()) / denominator if denominator > 0 else 0.0
