"""JPEG pictures a worker sends: the annotated preview frame, and snapshots kept under a byte budget."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from adapters.camera.spec import Polygon
from gateway.model import Box

__all__ = ["bound_jpeg", "encode_jpeg", "render_preview"]

Image = npt.NDArray[np.uint8]
_ZONE = (255, 200, 0)
_MASK = (128, 128, 128)
_BOX = (0, 0, 255)


def encode_jpeg(image: Image, quality: int = 75) -> bytes:
    """Encode a BGR image as JPEG."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf.tobytes())


def bound_jpeg(data: bytes, max_bytes: int) -> bytes | None:
    """The JPEG itself when small enough, else re-encoded smaller (lower quality, then half size); None if hopeless."""
    if len(data) <= max_bytes:
        return data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    picture = np.asarray(image, np.uint8)
    while picture.shape[1] >= 80:
        for quality in (70, 50):
            smaller = encode_jpeg(picture, quality)
            if len(smaller) <= max_bytes:
                return smaller
        size = (picture.shape[1] // 2, picture.shape[0] // 2)
        picture = np.asarray(cv2.resize(picture, size, interpolation=cv2.INTER_AREA), np.uint8)
    return None


def render_preview(
    frame: Image, zones: Sequence[Polygon], masks: Sequence[Polygon], boxes: Iterable[Box], quality: int = 70
) -> bytes:
    """The frame with masks shaded, zone outlines and recent detection boxes drawn, as JPEG."""
    canvas = frame.copy()
    thick = max(1, frame.shape[1] // 480)
    if masks:
        shade = canvas.copy()
        for polygon in masks:
            cv2.fillPoly(shade, [np.array(polygon, np.int32)], _MASK)
        canvas = np.asarray(cv2.addWeighted(shade, 0.6, canvas, 0.4, 0), np.uint8)
    for polygon in zones:
        cv2.polylines(canvas, [np.array(polygon, np.int32).reshape(-1, 1, 2)], True, _ZONE, thick)
    for box in boxes:
        cv2.rectangle(canvas, (box.x, box.y), (box.x + box.w, box.y + box.h), _BOX, thick)
        if box.label:
            cv2.putText(canvas, box.label, (box.x, max(10, box.y - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, _BOX, 1)
    return encode_jpeg(canvas, quality)
