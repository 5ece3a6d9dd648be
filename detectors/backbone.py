"""The image embedding: ImageNet MobileNetV2's 1280 pooled features, run with OpenCV's DNN module.

The network is not in git: `python -m detectors.backbone_fetch` (run by scripts/setup, deploy/install.sh
and the Dockerfile) writes it to `.models/mobilenet_v2.onnx` beside the checkout, or to
$GRIDEDGE_MODELS_DIR. It is loaded on first use, once per process and path, after its sha256 is
checked (a different file would give different features and a meaningless score). When it is missing
or does not load, `status()` says why and callers fall back to what they did without it.
OpenCV runs it on its own thread pool: the camera worker sets one thread (`opencv_threads`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
DIR_ENV = "GRIDEDGE_MODELS_DIR"
MODEL_NAME = "mobilenet_v2.onnx"
MODEL_SHA256 = "26d593070f3bc49d10e23540303f01da9a99e1fdacc6b9007c201134001ecb1e"
"""sha256 of the converter's output (detectors/mobilenet_onnx.py is deterministic)."""
DIM = 1280
SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
"""ImageNet's per-channel mean and std (RGB), as torchvision normalises its inputs."""

Vector = npt.NDArray[np.float64]
_lock = threading.Lock()


class BackboneUnavailableError(RuntimeError):
    """The embedding network is missing or does not load."""


@dataclass(frozen=True)
class Status:
    """Whether the network is loaded, from where, and why not."""

    available: bool
    path: Path
    reason: str


def models_dir() -> Path:
    """Where fetched models live: $GRIDEDGE_MODELS_DIR, or .models/ beside the checkout."""
    return Path(os.environ.get(DIR_ENV) or ROOT / ".models")


def model_path() -> Path:
    """The embedding network's file."""
    return models_dir() / MODEL_NAME


def sha256(path: Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def _load(path: Path) -> tuple[Any, str]:
    """The network at `path` (None when absent, altered or unreadable) and a one-line account."""
    if not path.is_file():
        return None, f"{path} is missing (python -m detectors.backbone_fetch writes it)"
    if sha256(path) != MODEL_SHA256:
        return None, f"{path} is not the expected network (sha256 differs); rerun python -m detectors.backbone_fetch"
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
    except cv2.error as e:
        return None, f"{path} does not load in OpenCV: {str(e).strip().splitlines()[-1]}"
    return net, f"{path} loaded"


def status() -> Status:
    """Load the network if not yet done, and tell whether it is usable."""
    path = model_path()
    net, reason = _load(path)
    return Status(net is not None, path, reason)


def blob(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The network input for a BGR image: 224x224 (area resize, aspect not kept), RGB, ImageNet-normalised."""
    small = cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    mean = tuple(255.0 * m for m in MEAN)
    out = cv2.dnn.blobFromImage(small, 1 / 255.0, (SIZE, SIZE), mean, swapRB=True)
    return np.asarray(out / np.asarray(STD, np.float32)[None, :, None, None], np.float32)


def embedding(bgr: npt.NDArray[np.uint8]) -> Vector:
    """The 1280-d embedding of a BGR image; BackboneUnavailableError when the network cannot run."""
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise ValueError(f"frame must be an HxWx3 uint8 BGR image, got {bgr.shape} {bgr.dtype}")
    path = model_path()
    net, reason = _load(path)
    if net is None:
        raise BackboneUnavailableError(reason)
    data = blob(bgr)
    with _lock:  # one Net object per process: its input and output buffers are shared
        net.setInput(data)
        out = net.forward("features")
    return np.asarray(out, np.float64).reshape(DIM)
