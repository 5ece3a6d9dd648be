"""Detectors on the real development clips beside the checkout (skipped when the data is absent)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.video_eval import media_time
from detectors import DetectorSet, Scene, parse_settings
from tests.conftest import SHARED_DATA

VIDEO = SHARED_DATA / "video"
pytestmark = pytest.mark.skipif(not VIDEO.is_dir(), reason="development data (../shared/data) not present")


def first_detection_s(path: Path, detector: str, fps: float = 5.0, **settings: float) -> float | None:
    """Seconds into the clip of the first detection, sampling at the production detect rate."""
    cap = cv2.VideoCapture(str(path))
    clip_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    ok, frame = cap.read()
    scene = Scene(path.stem, frame.shape[1], frame.shape[0])
    detectors = DetectorSet(scene, [parse_settings({"type": detector, **settings})])
    t, next_s = -1.0, 0.0
    try:
        while ok:
            t = media_time(cap, t, clip_fps)
            if t >= next_s:
                next_s += 1 / fps
                if detectors.process(np.asarray(frame, np.uint8), int(t * 1e9)):
                    return t
            ok, frame = cap.read()
    finally:
        cap.release()
    return None


@pytest.mark.parametrize("clip", ["emoykim_test1_fire_smoke_outdoor.mp4", "emoykim_test2_fire_kitchen_sink.mp4"])
def test_fire_clips_raise_flame_within_three_seconds(clip: str) -> None:
    first = first_detection_s(VIDEO / clip, "flame")
    assert first is not None and first <= 3.0


def test_neon_clip_raises_neither_flame_nor_smoke() -> None:
    neon = VIDEO / "emoykim_test7_nofire_lasvegas_neon.mp4"
    assert first_detection_s(neon, "flame") is None
    assert first_detection_s(neon, "smoke") is None


@pytest.mark.parametrize("clip", ["parthsolanke_smoke_on_black.mp4", "emoykim_test1_fire_smoke_outdoor.mp4"])
def test_smoke_clips_raise_smoke(clip: str) -> None:
    assert first_detection_s(VIDEO / clip, "smoke") is not None


@pytest.mark.parametrize(
    "clip",
    [
        "emoykim_test2_fire_kitchen_sink.mp4",  # flames, steam, a hand-held camera
        "lamminhthien_vtest_crowd_overhead.avi",  # grey pedestrians
        "nasrfathy1_parking_lot_timelapse.mp4",  # day-to-dusk light
        "miyanoshiho21_flood_indoor_cctv.mp4",  # grey water rising over the floor
    ],
)
def test_clips_without_smoke_raise_no_smoke(clip: str) -> None:
    assert first_detection_s(VIDEO / clip, "smoke") is None


def test_crowd_clip_raises_crowd_and_fire_clips_do_not() -> None:
    assert first_detection_s(VIDEO / "lamminhthien_vtest_crowd_overhead.avi", "crowd", hold_s=5) is not None
    for clip in ("emoykim_test1_fire_smoke_outdoor.mp4", "emoykim_test2_fire_kitchen_sink.mp4"):
        assert first_detection_s(VIDEO / clip, "crowd", hold_s=5) is None
