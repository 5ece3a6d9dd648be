"""Detectors on the real development clips beside the checkout (skipped when the data is absent)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import flame_image
from detectors import DetectorSet, Scene, parse_settings
from detectors.flame_image import shipped_model
from tests.conftest import SHARED_DATA

VIDEO = SHARED_DATA / "video"
pytestmark = pytest.mark.skipif(not VIDEO.is_dir(), reason="development data (../shared/data) not present")


def first_detection_s(path: Path, detector: str, fps: float = 5.0) -> float | None:
    """Seconds into the clip of the first detection, sampling at the production detect rate."""
    cap = cv2.VideoCapture(str(path))
    clip_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    ok, frame = cap.read()
    scene = Scene(path.stem, frame.shape[1], frame.shape[0])
    detectors = DetectorSet(scene, [parse_settings({"type": detector})])
    index, next_s = 0, 0.0
    try:
        while ok:
            t = index / clip_fps
            if t >= next_s:
                next_s += 1 / fps
                if detectors.process(np.asarray(frame, np.uint8), int(t * 1e9)):
                    return t
            ok, frame = cap.read()
            index += 1
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


@pytest.fixture(scope="module")
def still_images() -> flame_image.ImageSet:
    """Features of the labelled still images (fire vs nofire + smoke)."""
    return flame_image.load(SHARED_DATA)


def test_shipped_flame_image_weights_reproduce_from_the_cair_images(still_images: flame_image.ImageSet) -> None:
    trained, _ = flame_image.train(still_images)
    shipped = shipped_model()
    np.testing.assert_allclose(trained.coef, shipped.coef, rtol=1e-6, atol=1e-9)
    assert trained.threshold == pytest.approx(shipped.threshold, rel=1e-6)


def test_flame_image_cross_validated_figures_hold(still_images: flame_image.ImageSet) -> None:
    """The honest figures documented in docs/detectors.md (nested CV; the 0.90 target is not met)."""
    rounds = flame_image.cross_validate(still_images, repeats=3)
    assert np.mean([r.ranked_recall for r in rounds]) >= 0.45
    assert np.mean([r.fpr for r in rounds]) <= 0.10
    assert np.mean([r.auc for r in rounds]) >= 0.8
