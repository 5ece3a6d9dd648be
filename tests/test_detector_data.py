"""Detectors on the real development clips beside the checkout (skipped when the data is absent)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import flame_image
from bench.video_eval import media_time, run_clip
from detectors import DetectorSet, Scene, backbone, parse_settings
from detectors.flame_image import shipped
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


@pytest.fixture(scope="module")
def still_images() -> flame_image.ImageSet:
    """Embeddings and colour features of the labelled still images (fire vs nofire + smoke)."""
    state = backbone.status()
    if not state.available:  # the bench needs the network; tests/test_backbone.py fails under REQUIRE_MODELS
        pytest.skip(state.reason)
    return flame_image.load(SHARED_DATA)


def test_shipped_flame_image_weights_reproduce_from_the_cair_images(still_images: flame_image.ImageSet) -> None:
    trained, _ = flame_image.train(still_images)
    model = shipped()
    np.testing.assert_allclose(trained.embedding.folded().coef, model.embedding.coef, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(trained.colour.coef, model.colour.coef, rtol=1e-6, atol=1e-9)
    assert trained.embedding.threshold == pytest.approx(model.embedding.threshold, rel=1e-6)
    assert trained.colour.threshold == pytest.approx(model.colour.threshold, rel=1e-6)


@pytest.mark.parametrize(("head", "recall", "auc"), [("embedding", 0.85, 0.95), ("colour", 0.45, 0.8)])
def test_flame_image_cross_validated_figures_hold(
    still_images: flame_image.ImageSet, head: str, recall: float, auc: float
) -> None:
    """The honest figures documented in docs/detectors.md (nested CV; the embedding head meets the 0.90 target)."""
    rounds = flame_image.cross_validate(still_images, repeats=3, head=head)
    assert np.mean([r.ranked_recall for r in rounds]) >= recall
    assert np.mean([r.fpr for r in rounds]) <= 0.10
    assert np.mean([r.auc for r in rounds]) >= auc


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


KITCHEN, SMOKE_ON_BLACK = "emoykim_test2_fire_kitchen_sink.mp4", "parthsolanke_smoke_on_black.mp4"
CROWD, FLOOD = "lamminhthien_vtest_crowd_overhead.avi", "miyanoshiho21_flood_indoor_cctv.mp4"


def test_water_fires_on_the_flood_and_not_on_smoke_or_a_hand_held_view() -> None:
    """Water over the lower half (as the eval draws it): the flood, not the bright plume or the wandering view."""
    assert run_clip(VIDEO / FLOOD, "water", 5.0).first_s is not None
    for clip in (KITCHEN, SMOKE_ON_BLACK):
        assert run_clip(VIDEO / clip, "water", 5.0).first_s is None, clip


@pytest.mark.parametrize("clip", [SMOKE_ON_BLACK, CROWD, FLOOD])
def test_stationary_ignores_haze_walkers_and_flood_debris(clip: str) -> None:
    """The eval's 3 s stay: settled smoke haze, a plaza of walkers and debris in flood water are not parked objects."""
    assert run_clip(VIDEO / clip, "stationary", 5.0).first_s is None


@pytest.mark.parametrize("clip", [KITCHEN, SMOKE_ON_BLACK, CROWD])
def test_tamper_ignores_a_view_filled_by_people_or_smoke(clip: str) -> None:
    """No 'moved' (nor any tamper) where a person, a plume or a crowd fills a view that never settles anew."""
    assert run_clip(VIDEO / clip, "tamper", 5.0).first_s is None
