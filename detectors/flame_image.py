"""Still-image flame score: a linear head over an ImageNet embedding, or hand-made colour features without it.

The main model is an L2-regularised logistic regression over the 1280-d MobileNetV2 embedding of
the photo (`detectors.backbone`; the network is fetched at install, not shipped in git). When that
network is missing or does not load, `probability` falls back to the colour model below, logs it
once and `in_use()` says "colour": the gateway keeps working, with lower recall (docs/detectors.md).

The colour model measures every feature on the 320-pixel working frame. Candidate pixels come from
the flame colour rule of `detectors.flame` (Chen 2004 RGB + Celik 2009 YCrCb chroma). The features describe
(1) how much of the frame is flame-coloured and how bright and saturated it is (joint hue x
brightness histogram of the candidates), (2) the structure of a flame: a white-yellow core with an
orange/red halo around it, hue rising towards yellow as brightness rises, (3) light emission: a
flame is brighter than its surroundings and holds the brightest pixels of the frame, and (4) the
shape and texture of the candidate regions (ragged outline, many small tongues, edge density), and
(5) locality: the same key measures in the tile of a 3x3 grid where they are strongest, as a small
or distant fire is diluted in whole-frame shares.

It too is an L2-regularised logistic regression, over the standardised features. Both heads' weights
live in `flame_image.json` beside this module and are reproduced from the MIT-licensed cair
images by `python -m bench.flame_image --write` (docs/detectors.md gives the cross-validated figures).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from detectors import backbone
from detectors.backbone import DIM, MODEL_SHA256
from detectors.frame import Frame, Image

Vector = npt.NDArray[np.float64]
BoolMask = npt.NDArray[np.bool_]

RED_MIN = 150
CHROMA_MIN = 40
_HUE_EDGES = (0, 8, 16, 24, 36)
_VALUE_EDGES = (0, 200, 240, 256)
_EPS = 1e-3
log = logging.getLogger("detectors.flame")


@cache
def _ring_kernel() -> npt.NDArray[np.uint8]:
    """The 9 px disc that grows flame regions into their ring (made on first use: no OpenCV at import)."""
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)), np.uint8)


def _bin_table(edges: tuple[int, ...], outside: int) -> npt.NDArray[np.int64]:
    """The bin of every 8-bit level for these edges; levels past the last edge get `outside`."""
    raw = np.searchsorted(np.asarray(edges), np.arange(256), side="right") - 1
    return np.where(raw < len(edges) - 1, raw, outside)


# A pixel's joint bin is hue bin x 3 + value bin; hues outside the edges make it negative (dropped).
_HUE_BIN = _bin_table(_HUE_EDGES, -len(_VALUE_EDGES))
_VALUE_BIN = _bin_table(_VALUE_EDGES, 0)
_BINS = (len(_HUE_EDGES) - 1) * (len(_VALUE_EDGES) - 1)
WEIGHTS = Path(__file__).with_name("flame_image.json")

NAMES: tuple[str, ...] = (
    "log_candidate",
    "log_bright",
    "log_core",
    "core_in_halo",
    "halo_near_core",
    *(f"hist_h{h}_v{v}" for h in range(len(_HUE_EDGES) - 1) for v in range(len(_VALUE_EDGES) - 1)),
    "sat_mean",
    "sat_high",
    "hue_std",
    "hue_value_corr",
    "glow",
    "top_flame",
    "blobs",
    "solidity",
    "ragged",
    "edges_in",
    "edges_all",
    "sat_all",
    "value_all",
    "tile_bright",
    "tile_candidate",
    "tile_core_in_halo",
    "tile_orange_white",
    "tile_yellow_white",
    "tiles_lit",
)


@dataclass(frozen=True, slots=True)
class LinearModel:
    """A logistic model over standardised features: p = sigmoid(intercept + coef . (x - mean) / scale)."""

    mean: Vector
    scale: Vector
    coef: Vector
    intercept: float
    threshold: float
    """Probability at which a still image counts as fire (5 % false positives under cross-validation)."""

    def probability(self, x: Vector) -> float:
        """The model's probability that the features come from a photo of fire."""
        z = self.intercept + float(np.dot(self.coef, (x - self.mean) / self.scale))
        return 1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0)))

    def folded(self) -> LinearModel:
        """The same model with the standardisation folded into coef and intercept (mean 0, scale 1)."""
        coef = self.coef / self.scale
        ones = np.ones_like(self.scale)
        return LinearModel(0 * ones, ones, coef, self.intercept - float(coef @ self.mean), self.threshold)


@dataclass(frozen=True, slots=True)
class StillModel:
    """The shipped still-image model: a head over the backbone's embedding, and the colour model without it."""

    embedding: LinearModel
    """Over `backbone.embedding` (folded: mean 0, scale 1, so the file holds 1280 weights, not 3 x 1280)."""
    colour: LinearModel
    """Over `features` (NAMES): the fallback when the backbone network is missing."""

    def to_json(self, about: dict[str, object]) -> str:
        """The weights file text (names and the backbone's digest first, so a stale file is refused at load)."""
        e, c = self.embedding.folded(), self.colour
        body = {
            "about": about,
            "embedding": {"backbone_sha256": MODEL_SHA256, "coef": e.coef.tolist(), "intercept": e.intercept,
                          "threshold": e.threshold},
            "colour": {"features": list(NAMES), "mean": c.mean.tolist(), "scale": c.scale.tolist(),
                       "coef": c.coef.tolist(), "intercept": c.intercept, "threshold": c.threshold},
        }  # fmt: skip
        return json.dumps(body, indent=1) + "\n"


def parse_model(text: str, source: str) -> StillModel:
    """A model from weights-file text; a file for another feature list, backbone or shape is refused."""
    try:
        body = json.loads(text)
        e, c = body["embedding"], body["colour"]
        names, digest = c["features"], e["backbone_sha256"]
        mean, scale, coef = (np.asarray(c[k], dtype=np.float64) for k in ("mean", "scale", "coef"))
        colour = LinearModel(mean, scale, coef, float(c["intercept"]), float(c["threshold"]))
        head = np.asarray(e["coef"], dtype=np.float64)
        ones = np.ones(DIM)
        embedding = LinearModel(0 * ones, ones, head, float(e["intercept"]), float(e["threshold"]))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{source}: not a flame image model ({err}); rewrite it with bench/flame_image.py") from err
    if names != list(NAMES):
        raise ValueError(f"{source}: feature list differs from detectors.flame_image.NAMES; retrain it")
    if any(a.shape != (len(NAMES),) for a in (mean, scale, coef)) or not (scale > 0).all():
        raise ValueError(f"{source}: mean, scale and coef need {len(NAMES)} numbers each, scale > 0")
    if digest != MODEL_SHA256 or head.shape != (DIM,):
        need = f"{DIM} weights for backbone {MODEL_SHA256[:12]}"
        raise ValueError(f"{source}: the embedding head needs {need}; retrain it")
    return StillModel(embedding, colour)


@cache
def shipped() -> StillModel:
    """The weights shipped beside this module (read once)."""
    return parse_model(WEIGHTS.read_text(encoding="utf-8"), WEIGHTS.name)


def in_use() -> str:
    """Which head scores still images: "embedding", or "colour" when the backbone network cannot run."""
    state = backbone.status()
    if not state.available:
        _warn_fallback(state.reason)
    return "embedding" if state.available else "colour"


@cache
def _warn_fallback(reason: str) -> None:
    """Say once per reason that still images get the weaker colour model."""
    log.warning("still-image flame model: %s; using the colour model (recall 0.62 at 5 %% FPR, not 0.93)", reason)


def shipped_model() -> LinearModel:
    """The head in use (its `threshold` is the still-image threshold)."""
    return shipped().embedding if in_use() == "embedding" else shipped().colour


def probability(bgr: Image) -> float:
    """The probability that a still image shows flames: the embedding head, else the colour model."""
    model = shipped()
    if in_use() == "embedding":
        try:
            return model.embedding.probability(backbone.embedding(bgr))
        except backbone.BackboneUnavailableError:  # status changed under us: fall through to the colour model
            pass
    return model.colour.probability(features(Frame(bgr, 0)))


def colour_mask(small: Image, ycrcb: Image, red_min: int = RED_MIN, chroma_min: int = CHROMA_MIN) -> BoolMask:
    """Flame-coloured pixels: bright red channel, R >= G > B, and a strong red-over-blue chroma."""
    b, g, r = (small[..., i].astype(np.int16) for i in range(3))
    cr = ycrcb[..., 1].astype(np.int16)
    cb = ycrcb[..., 2].astype(np.int16)
    out: BoolMask = (r >= red_min) & (r >= g) & (g > b) & (cr - cb >= chroma_min) & (ycrcb[..., 0] > cb)
    return out


def features(frame: Frame) -> Vector:
    """The feature vector of one frame, in the order of `NAMES`."""
    cand = colour_mask(frame.small, frame.ycrcb)
    hsv = frame.hsv
    hue, sat, val = (hsv[..., i] for i in range(3))
    small = frame.small
    core = (val >= 240) & (small[..., 2] >= small[..., 1]) & (small[..., 1] >= small[..., 0]) & (sat < 140)
    n = float(cand.size)
    count = float(cand.sum())
    bright = cand & (sat >= 180) & (val >= 220)
    near_cand = _dilate(cand & ~core)
    near_core = _dilate(core)
    core_count = float(core.sum())
    parts = [
        np.log(count / n + _EPS),
        np.log(float(bright.sum()) / n + _EPS),
        np.log(core_count / n + _EPS),
        float((core & near_cand).sum()) / (core_count + 1.0),
        float((cand & near_core).sum()) / (count + 1.0),
    ]
    parts += _joint_histogram(hue[cand], val[cand], n)
    parts += _colour_stats(hue[cand], sat[cand], val[cand])
    parts += _emission(cand, frame.grey)
    parts += _shape(cand)
    parts += _texture(cand, frame.grey)
    parts += [float(sat.mean()) / 255.0, float(val.mean()) / 255.0]
    white_hot = cand & (val >= 240)
    orange_white = white_hot & (hue >= 8) & (hue < 16)
    yellow_white = white_hot & (hue >= 24) & (hue < 36)
    parts += _tiles((bright, cand, core & near_cand, orange_white, yellow_white))
    return np.asarray(parts, dtype=np.float64)


def _tiles(masks: tuple[BoolMask, ...]) -> list[float]:
    """A fire is local: each mask's largest share in a 3x3 grid of tiles (log), and the share of tiles lit.

    "Lit" means at least 1 % bright flame pixels (the first mask).
    """
    rows, cols = (_thirds(n) for n in masks[0].shape)
    shares = np.asarray([[m[r, c].mean() for r in rows for c in cols] for m in masks])
    return [*(float(v) for v in np.log(shares.max(axis=1) + _EPS)), float((shares[0] >= 0.01).mean())]


def _thirds(n: int) -> list[slice]:
    """Three slices cutting a length into thirds, none empty (a frame under 3 pixels repeats its pixels)."""
    starts = [min(i * n // 3, n - 1) for i in range(3)]
    return [slice(a, max((i + 1) * n // 3, a + 1)) for i, a in enumerate(starts)]


def _dilate(mask: BoolMask) -> BoolMask:
    """The mask grown by a 9-pixel disc (a flame's core and halo touch within it)."""
    out: BoolMask = cv2.dilate(mask.astype(np.uint8), _ring_kernel()) > 0
    return out


def _joint_histogram(hue: npt.NDArray[np.uint8], val: npt.NDArray[np.uint8], n: float) -> list[float]:
    """Candidate pixels per hue x brightness bin, as the log of the frame fraction."""
    bins = _HUE_BIN[hue] * (len(_VALUE_EDGES) - 1) + _VALUE_BIN[val]
    hist = np.bincount(bins[bins >= 0], minlength=_BINS)[:_BINS]
    return [float(v) for v in np.log(hist / n + _EPS)]


def _colour_stats(hue: npt.NDArray[np.uint8], sat: npt.NDArray[np.uint8], val: npt.NDArray[np.uint8]) -> list[float]:
    """Saturation level, hue spread and the hue-brightness correlation of the candidates (0 when too few)."""
    if hue.size < 20:
        return [0.0, 0.0, 0.0, 0.0]
    h = hue.astype(np.float64)
    v = val.astype(np.float64)
    corr = float(np.corrcoef(h, v)[0, 1]) if h.std() > 0 and v.std() > 0 else 0.0
    return [float(sat.mean()) / 255.0, float((sat >= 200).mean()), float(h.std()) / 10.0, corr]


def _emission(cand: BoolMask, grey: npt.NDArray[np.uint8]) -> list[float]:
    """How much brighter the candidates are than the ring around them, and their share of the brightest pixels."""
    ring = _dilate(_dilate(cand)) & ~cand
    glow = 0.0
    if cand.sum() >= 20 and ring.sum() >= 20:
        glow = (float(grey[cand].mean()) - float(grey[ring].mean())) / 255.0
    counts = np.bincount(grey.ravel(), minlength=256)
    level = int(np.searchsorted(np.cumsum(counts), 0.98 * grey.size))
    top = grey >= level
    top_flame = float((top & _dilate(cand)).sum()) / max(1.0, float(top.sum()))
    return [glow, top_flame]


def _shape(cand: BoolMask) -> list[float]:
    """Number of candidate regions (log), and solidity and raggedness of the largest one."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = areas >= 10
    if not big.any():
        return [0.0, 0.0, 0.0]
    largest = 1 + int(np.argmax(areas))
    blob = (labels == largest).astype(np.uint8)
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    area = float(areas[largest - 1])
    hull = float(cv2.contourArea(cv2.convexHull(contour)))
    perimeter = float(cv2.arcLength(contour, True))
    return [float(np.log1p(big.sum())), area / max(hull, 1.0), perimeter / (2.0 * np.sqrt(np.pi * area))]


def _texture(cand: BoolMask, grey: npt.NDArray[np.uint8]) -> list[float]:
    """Edge density inside the candidate regions and over the whole frame."""
    edges = cv2.Canny(grey, 60, 150) > 0
    inside = float(edges[cand].mean()) if cand.sum() >= 20 else 0.0
    return [inside, float(edges.mean())]
