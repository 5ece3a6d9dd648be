"""Model: a user-supplied ONNX detector (fire, person, vehicle…) run with OpenCV's DNN module.

Supported output layouts: `ssd` ([1, 1, N, 7]: image, class, score, x1, y1, x2, y2 normalised),
`yolov5` ([1, N, 5 + C]: cx, cy, w, h, objectness, class scores, in input pixels) and `yolov8`
([1, 4 + C, N]: cx, cy, w, h, class scores). Boxes go through non-maximum suppression; a zone
reports the kept boxes whose centre lies inside it, scored by the best box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field

from detectors.base import Detector, DetectorSettings, Hit
from detectors.frame import Frame
from detectors.registry import register
from detectors.scene import Scene
from gateway.model import Box

Array = npt.NDArray[np.float32]
Raw = tuple[list[list[int]], list[float], list[int]]


class ModelSettings(DetectorSettings):
    """Settings of the ONNX model detector."""

    type: Literal["model"] = Field(default="model", description="Detector type: model.")
    path: Path = Field(title="Model", description="The ONNX file (relative paths are resolved by the caller).")
    output: Literal["ssd", "yolov5", "yolov8"] = Field("yolov8", title="Output layout", description="See module doc.")
    labels: list[str] = Field(default_factory=list, title="Labels", description="Class names by class index.")
    report: list[str] = Field(
        default_factory=list, title="Report", description="Labels that produce detections (empty: all)."
    )
    input_width: int = Field(640, ge=16, title="Input width", description="Network input width in pixels.")
    input_height: int = Field(640, ge=16, title="Input height", description="Network input height in pixels.")
    scale: float = Field(1 / 255, gt=0, title="Scale", description="Pixel value multiplier before the network.")
    swap_rb: bool = Field(True, title="RGB", description="Feed RGB (most models) rather than BGR.")
    score_min: float = Field(0.5, ge=0, le=1, title="Score", description="Least score of a kept box.")
    nms: float = Field(0.45, ge=0, le=1, title="NMS", description="Overlap above which the weaker box is dropped.")
    interval_s: float = Field(1.0, ge=0, title="Interval", description="Seconds between inferences (CPU is scarce).")


@register
class ModelDetector(Detector[ModelSettings]):
    """Runs the network on the full frame and reports labelled boxes per zone."""

    type_key = "model"
    settings_model = ModelSettings

    def __init__(self, settings: ModelSettings, scene: Scene) -> None:
        super().__init__(settings, scene)
        if not settings.path.is_file():
            raise ValueError(f"model file {settings.path} not found")
        self.net: Any = cv2.dnn.readNetFromONNX(str(settings.path))

    def analyse(self, frame: Frame) -> list[Hit]:
        """Infer on the frame and group the kept boxes by zone."""
        boxes = self.infer(frame.bgr)
        k = 1.0 / frame.scale
        hits = []
        for i, zone in enumerate(self.masks(frame)):
            inside = [b for b in boxes if _centre_in(b, zone, k)]
            if inside:
                work = [Box(round(b.x * k), round(b.y * k), round(b.w * k), round(b.h * k), b.label, b.score)
                        for b in inside]
                hits.append(Hit(i, max(b.score for b in inside), work, {"objects": float(len(inside))}))
        return hits

    def infer(self, bgr: npt.NDArray[np.uint8]) -> list[Box]:
        """The labelled boxes the network finds in a frame, in frame coordinates, after NMS."""
        s = self.settings
        size = (s.input_width, s.input_height)
        blob = cv2.dnn.blobFromImage(bgr, s.scale, size, (0, 0, 0), s.swap_rb, False)
        self.net.setInput(blob)
        out = np.asarray(self.net.forward(), dtype=np.float32)
        height, width = bgr.shape[:2]
        raw = _decode(out, s.output, (width / size[0], height / size[1]), (width, height), s.score_min)
        return self._keep(raw)

    def _keep(self, raw: Raw) -> list[Box]:
        """Non-maximum suppression, label names and the `report` filter."""
        rects, scores, classes = raw
        if not rects:
            return []
        kept = cv2.dnn.NMSBoxes(rects, scores, self.settings.score_min, self.settings.nms)
        out = []
        for i in np.asarray(kept, dtype=np.int64).reshape(-1):
            label = self._label(classes[i])
            if not self.settings.report or label in self.settings.report:
                x, y, w, h = rects[i]
                out.append(Box(x, y, w, h, label, round(scores[i], 4)))
        return out

    def _label(self, index: int) -> str:
        """The class name, or its index when the label map is shorter."""
        labels = self.settings.labels
        return labels[index] if 0 <= index < len(labels) else str(index)


def _decode(out: Array, layout: str, k: tuple[float, float], size: tuple[int, int], score_min: float) -> Raw:
    """Rows of (box in frame pixels, score, class) above the score from one output tensor."""
    if layout == "ssd":
        rows = out.reshape(-1, 7)
        rows = rows[rows[:, 2] >= score_min]
        rects = [_rect(r[3] * size[0], r[4] * size[1], r[5] * size[0], r[6] * size[1]) for r in rows]
        return rects, [float(r[2]) for r in rows], [int(r[1]) for r in rows]
    table = out.reshape(out.shape[-2], out.shape[-1])
    if layout == "yolov8":
        table = table.T
        class_scores, boxes = table[:, 4:], table[:, :4]
    else:
        class_scores, boxes = table[:, 5:] * table[:, 4:5], table[:, :4]
    if class_scores.shape[1] == 0:
        return [], [], []
    classes = class_scores.argmax(axis=1)
    scores = class_scores.max(axis=1)
    keep = scores >= score_min
    rects = [
        _rect((cx - w / 2) * k[0], (cy - h / 2) * k[1], (cx + w / 2) * k[0], (cy + h / 2) * k[1])
        for cx, cy, w, h in boxes[keep]
    ]
    return rects, [float(v) for v in scores[keep]], [int(c) for c in classes[keep]]


def _rect(x1: float, y1: float, x2: float, y2: float) -> list[int]:
    """An [x, y, w, h] integer rectangle from two corners."""
    return [round(x1), round(y1), max(1, round(x2 - x1)), max(1, round(y2 - y1))]


def _centre_in(box: Box, zone: npt.NDArray[np.bool_], k: float) -> bool:
    """Whether a frame-coordinate box's centre lies in a working-size zone mask."""
    x = min(zone.shape[1] - 1, max(0, round((box.x + box.w / 2) * k)))
    y = min(zone.shape[0] - 1, max(0, round((box.y + box.h / 2) * k)))
    return bool(zone[y, x])
