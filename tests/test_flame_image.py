"""The still-image flame features and model on synthetic images (real-data figures: test_detector_data.py)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest

from detectors import Frame
from detectors.backbone import DIM
from detectors.flame import FlameSettings, image_score
from detectors.flame_image import (
    NAMES,
    WEIGHTS,
    LinearModel,
    StillModel,
    features,
    parse_model,
    shipped,
    shipped_model,
)
from tests.data.video.clips import background

EPS_LOG = float(np.log(1e-3))


def feature(img: np.ndarray, name: str) -> float:
    """One named feature of an image."""
    return float(features(Frame(img, 0))[NAMES.index(name)])


def bonfire(back: int = 30) -> np.ndarray:
    """A flame on a dark scene: a white-yellow core inside yellow, orange and red tongues."""
    img = np.full((240, 320, 3), back, np.uint8)
    for colour, axes in (((0, 40, 200), (60, 90)), ((0, 120, 255), (45, 70)), ((60, 210, 255), (25, 45))):
        cv2.ellipse(img, (160, 150), axes, 0, 0, 360, colour, -1)
    for dx in (-40, -15, 15, 40):
        cv2.ellipse(img, (160 + dx, 80), (8, 40), 0, 0, 360, (0, 100, 255), -1)
    cv2.ellipse(img, (160, 155), (12, 25), 0, 0, 360, (235, 250, 255), -1)
    return img


def orange_wall() -> np.ndarray:
    """A room painted one warm orange, lit evenly (a classic still-image false alarm)."""
    return np.full((240, 320, 3), (40, 140, 230), np.uint8)


def test_a_frame_without_flame_colour_has_empty_candidate_features() -> None:
    x = features(Frame(background(), 0))
    assert x.shape == (len(NAMES),)
    assert x[NAMES.index("log_candidate")] == pytest.approx(EPS_LOG)
    assert all(x[i] == pytest.approx(EPS_LOG) for i, n in enumerate(NAMES) if n.startswith("hist_"))
    for name in ("sat_mean", "hue_std", "glow", "blobs", "ragged", "edges_in", "core_in_halo"):
        assert x[NAMES.index(name)] == 0.0, name


def test_joint_histogram_puts_a_patch_in_its_hue_and_brightness_bin() -> None:
    img = np.zeros((240, 320, 3), np.uint8)
    img[:60, :80] = (0, 128, 255)  # pure orange: OpenCV hue 15, value 255 -> hue bin 1, value bin 2
    x = features(Frame(img, 0))
    fraction = 60 * 80 / (240 * 320)
    assert x[NAMES.index("hist_h1_v2")] == pytest.approx(np.log(fraction + 1e-3), rel=1e-3)
    assert x[NAMES.index("hist_h0_v2")] == pytest.approx(EPS_LOG)


def test_a_flame_core_sits_in_a_warm_halo_and_a_bare_lamp_does_not() -> None:
    lamp = background()
    cv2.circle(lamp, (160, 120), 20, (250, 252, 255), -1)
    assert feature(bonfire(), "core_in_halo") > 0.2
    assert feature(lamp, "core_in_halo") == 0.0


def test_a_flame_glows_brighter_than_its_surroundings_and_paint_on_a_white_wall_does_not() -> None:
    wall = np.full((240, 320, 3), 245, np.uint8)
    cv2.rectangle(wall, (100, 60), (220, 180), (0, 120, 255), -1)
    assert feature(bonfire(), "glow") > 0.2
    assert feature(wall, "glow") < 0.0


def test_hue_rises_with_brightness_inside_a_flame() -> None:
    assert feature(bonfire(), "hue_value_corr") > 0.3


def test_ragged_outline_scores_higher_than_a_disc() -> None:
    disc = np.zeros((240, 320, 3), np.uint8)
    cv2.circle(disc, (160, 120), 60, (0, 120, 255), -1)
    star = np.zeros((240, 320, 3), np.uint8)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    radii = np.where(np.arange(24) % 2 == 0, 90, 30)
    points = np.stack([160 + radii * np.cos(angles), 120 + radii * np.sin(angles)], axis=1).astype(np.int32)
    cv2.fillPoly(star, [points], (0, 120, 255))
    assert feature(star, "ragged") > feature(disc, "ragged") + 0.5


def test_shipped_colour_model_ranks_a_drawn_bonfire_above_an_orange_wall_and_a_plain_scene() -> None:
    """The colour head only: the embedding head learnt photos, and scores this cartoon below a grey scene.

    Its figures come from real photos (tests/test_detector_data.py).
    """
    colour = shipped().colour

    def score(img: np.ndarray) -> float:
        return colour.probability(features(Frame(img, 0)))

    fire = score(bonfire())
    assert fire > score(orange_wall())
    assert fire > score(background())
    assert 0.0 <= image_score(orange_wall()) <= 1.0


def test_image_threshold_is_the_models_unless_configured() -> None:
    assert FlameSettings.model_validate({}).image_threshold() == shipped_model().threshold
    assert FlameSettings.model_validate({"image_score_min": 0.9}).image_threshold() == 0.9
    with pytest.raises(ValueError):
        FlameSettings.model_validate({"image_score_min": 1.5})


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 2, 3), (2, 400, 3), (400, 1, 3)])
def test_tiny_frames_score_without_warnings(shape: tuple[int, int, int]) -> None:
    img = np.full(shape, (0, 120, 255), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(features(Frame(img, 0))).all()
        assert 0.0 <= image_score(img) <= 1.0


def test_image_score_refuses_a_frame_that_is_not_bgr() -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        image_score(np.zeros((240, 320), np.uint8))


def random_model(rng: np.random.Generator, n: int, threshold: float) -> LinearModel:
    """A model over n features with random standardisation and weights."""
    return LinearModel(rng.normal(size=n), rng.uniform(0.5, 2, n), rng.normal(size=n) / np.sqrt(n), -0.3, threshold)


def test_weights_file_round_trips_both_heads() -> None:
    """The embedding head is stored folded (1280 weights); it gives the same probabilities."""
    rng = np.random.default_rng(1)
    model = StillModel(random_model(rng, DIM, 0.6), random_model(rng, len(NAMES), 0.7))
    again = parse_model(model.to_json({"trained_on": "test"}), "test.json")
    for new, old, n in ((again.embedding, model.embedding, DIM), (again.colour, model.colour, len(NAMES))):
        x = rng.normal(size=n)
        assert new.probability(x) == pytest.approx(old.probability(x), rel=1e-9)
    assert (again.embedding.threshold, again.colour.threshold) == (0.6, 0.7)
    assert (again.embedding.mean == 0).all() and (again.embedding.scale == 1).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b["colour"].update(features=b["colour"]["features"][:-1]), "feature list differs"),
        (lambda b: b["colour"].update(coef=b["colour"]["coef"][:-1]), f"need {len(NAMES)} numbers"),
        (lambda b: b["colour"].update(scale=[0.0] * len(NAMES)), "scale > 0"),
        (lambda b: b["colour"].pop("intercept"), "not a flame image model"),
        (lambda b: b["embedding"].pop("threshold"), "not a flame image model"),
        (lambda b: b["embedding"].update(coef=b["embedding"]["coef"][:-1]), f"needs {DIM} weights"),
        (lambda b: b["embedding"].update(backbone_sha256="0" * 64), "embedding head needs .* for backbone"),
    ],
)
def test_a_bad_weights_file_is_refused_with_its_name(change: Callable[[dict[str, Any]], object], message: str) -> None:
    body = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    change(body)
    with pytest.raises(ValueError, match=rf"bad\.json: .*{message}"):
        parse_model(json.dumps(body), "bad.json")
    with pytest.raises(ValueError, match=r"bad\.json: not a flame image model"):
        parse_model("{not json", "bad.json")
