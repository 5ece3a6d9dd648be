"""What every detector shares: its settings base, the per-zone hit it finds and the reporting of detections.

A detector is built once per camera with its settings and the camera's `Scene`, then fed frames in
time order through `process`; it keeps its own temporal state and never does I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from detectors.frame import Frame
from detectors.scene import BoolMask, Scene, Zone
from detectors.snapshot import render
from gateway.model import Box, Detection

NS = 1_000_000_000


class DetectorSettings(BaseModel):
    """Settings every detector has; each detector extends it with a `type: Literal[...]` discriminator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    name: str | None = Field(
        None, title="Name", description="Name used in detections and zone lists; defaults to the type."
    )
    interval_s: float = Field(
        0.0, ge=0, title="Interval", description="Minimum seconds between analysed frames (0: every frame given)."
    )
    report_every_s: float = Field(
        1.0, ge=0, title="Report interval", description="While a zone stays active, at most one detection per this."
    )
    snapshot: bool = Field(True, title="Snapshot", description="Attach a JPEG with the zone and boxes drawn.")


@dataclass(slots=True)
class Hit:
    """A zone where the detector's condition holds on this frame; boxes are in working coordinates."""

    zone: int
    score: float
    boxes: list[Box] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)


S = TypeVar("S", bound=DetectorSettings)


class Detector(ABC, Generic[S]):
    """A frame detector: analyses frames in time order and reports rate-limited detections per zone."""

    type_key: ClassVar[str]
    settings_model: ClassVar[type[DetectorSettings]]
    gated: ClassVar[bool] = True
    """Whether a still scene (no motion) lets this detector skip the frame."""
    learns_view: ClassVar[bool] = False
    """Whether it compares frames with a learnt view of the scene, which a moving camera invalidates."""

    def __init__(self, settings: S, scene: Scene) -> None:
        self.settings = settings
        self.scene = scene
        self.name = settings.name or settings.type
        self.zones: tuple[Zone, ...] = scene.zones_for(self.name)
        self._masks: tuple[BoolMask, ...] = ()
        self._size: tuple[int, int] = (0, 0)
        self._last_run_ns: int | None = None
        self._last_report: dict[int, int] = {}

    def masks(self, frame: Frame) -> tuple[BoolMask, ...]:
        """The zones rasterised at the frame's working size (cached while the size holds)."""
        if frame.work_size != self._size:
            self._size = frame.work_size
            self._masks = self.scene.zone_masks(self.zones, frame.work_size)
        return self._masks

    def due(self, ts_ns: int) -> bool:
        """Whether `interval_s` has passed since the last analysed frame."""
        last = self._last_run_ns
        return last is None or ts_ns - last >= self.settings.interval_s * NS or ts_ns < last

    def process(self, frame: Frame, moving: bool = True) -> list[Detection]:
        """Analyse one frame (unless not due, or gated by a still scene) and return the detections to report."""
        if not self.zones:
            return []
        if self.learns_view and frame.camera_moving:
            self.relearn()
            return []
        if not self.due(frame.ts_ns):
            return []
        if self.gated and not moving:
            self.still(frame)
            return []
        self._last_run_ns = frame.ts_ns
        hits = self.analyse(frame)
        return [d for d in (self._report(frame, hit) for hit in hits) if d is not None]

    def still(self, frame: Frame) -> None:
        """Called instead of `analyse` on a frame skipped because the scene is still."""

    def relearn(self) -> None:
        """Forget the learnt view (`learns_view` detectors, while the camera moves): the next frame starts it anew."""

    @abstractmethod
    def analyse(self, frame: Frame) -> list[Hit]:
        """Update the temporal state with this frame and return the zones where the condition holds."""

    def _report(self, frame: Frame, hit: Hit) -> Detection | None:
        """Turn a hit into a detection unless this zone reported less than `report_every_s` ago."""
        last = self._last_report.get(hit.zone)
        if last is not None and 0 <= frame.ts_ns - last < self.settings.report_every_s * NS:
            return None
        self._last_report[hit.zone] = frame.ts_ns
        zone = self.zones[hit.zone]
        boxes = [_scale(b, frame.scale) for b in hit.boxes]
        snapshot = render(frame.bgr, zone.polygon, boxes) if self.settings.snapshot else None
        return Detection(
            camera=self.scene.camera,
            detector=self.name,
            zone=zone.name,
            ts_ns=frame.ts_ns,
            score=round(float(hit.score), 4),
            boxes=boxes,
            grid=zone.grid or self.scene.grid,
            snapshot=snapshot,
            values={k: round(float(v), 4) for k, v in hit.values.items()},
        )


def _scale(box: Box, k: float) -> Box:
    """A working-coordinate box in frame coordinates."""
    return Box(round(box.x * k), round(box.y * k), round(box.w * k), round(box.h * k), box.label, box.score)


def blob_boxes(mask: BoolMask, min_area: int, label: str, score: float = 1.0, limit: int = 8) -> list[Box]:
    """Bounding boxes of the connected regions of a mask with at least `min_area` pixels, largest first."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    found = [stats[i] for i in range(1, count) if stats[i][cv2.CC_STAT_AREA] >= min_area]
    found.sort(key=lambda s: -int(s[cv2.CC_STAT_AREA]))
    return [Box(int(s[0]), int(s[1]), int(s[2]), int(s[3]), label, score) for s in found[:limit]]


class Hold:
    """A per-zone timer: how long a condition has held without a break longer than `grace_s` (at least 1 s)."""

    def __init__(self, grace_s: float = 1.0) -> None:
        self.grace_ns = int(max(grace_s, 1.0) * NS)
        self.since: int | None = None
        self.last_true: int | None = None

    def update(self, ts_ns: int, condition: bool) -> float:
        """Feed the condition at a time; return for how many seconds it has held (0 on a false frame)."""
        if condition:
            if self.since is None or self.last_true is None or ts_ns - self.last_true > self.grace_ns:
                self.since = ts_ns
            self.last_true = ts_ns
            return (ts_ns - self.since) / NS
        if self.last_true is not None and ts_ns - self.last_true > self.grace_ns:
            self.since = None
        return 0.0
