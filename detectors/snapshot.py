"""The evidence picture of a detection: the frame with the zone and boxes drawn, as JPEG."""

from __future__ import annotations

import cv2
import numpy as np

from detectors.frame import Image
from detectors.scene import Polygon
from gateway.model import Box

_ZONE_COLOUR = (255, 200, 0)
_BOX_COLOUR = (0, 0, 255)


def render(bgr: Image, zone: Polygon, boxes: list[Box], quality: int = 80) -> bytes:
    """Draw the zone outline and the boxes on a copy of the frame and encode it as JPEG."""
    canvas = bgr.copy()
    thick = max(1, bgr.shape[1] // 320)
    pts = np.array(zone, dtype=np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], True, _ZONE_COLOUR, thick)
    for box in boxes:
        cv2.rectangle(canvas, (box.x, box.y), (box.x + box.w, box.y + box.h), _BOX_COLOUR, thick)
        if box.label:
            text = f"{box.label} {box.score:.2f}"
            origin = (box.x, max(10, box.y - 3))
            cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, _BOX_COLOUR, thick)
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding of a snapshot failed")
    return bytes(buf.tobytes())
