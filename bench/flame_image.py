"""Cross-validate and train the still-image flame model on ../shared/data/images (labels = folder names).

Two heads, each a logistic regression: over the 1280-d MobileNetV2 embedding (detectors/backbone.py;
the network must be fetched first: python -m detectors.backbone_fetch), and over the 36 hand-made
colour features (the fallback when the network is missing). Honest figures for each: repeated
stratified 5-fold cross-validation over the cair images (MIT), with the regularisation strength
and the 5 %-false-positive threshold chosen inside each training fold (nested), and the HPWREN
images (research-only, never trained on) scored by every fold's model as extra negatives.
Printed: recall at FPR <= 5 % with the out-of-fold scores ranked together (the ranking quality),
recall and FPR at the threshold chosen inside the fold (what a deployment gets), their spread over
repetitions, and the cost of one 640x360 frame. `--write` then trains both heads on all cair
images and writes detectors/flame_image.json (the shipped weights come from cair only).

    .venv/bin/python -m bench.flame_image [--data ../shared/data] [--repeats 20] [--head embedding|colour|both]
                                          [--write] [--clips]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from detectors import backbone
from detectors.flame_image import NAMES, WEIGHTS, LinearModel, StillModel, features, probability, shipped_model
from detectors.frame import Frame

REPO = Path(__file__).resolve().parents[1]
Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.int64]
LAMBDAS = {"embedding": (0.1, 1.0, 10.0, 100.0, 1000.0), "colour": (0.1, 0.3, 1.0, 3.0, 10.0)}
"""L2 strengths tried inside each training fold, per head (1280 weights need a wider range than 36)."""
FPR = 0.05
FOLDS = 5


@dataclass(frozen=True)
class ImageSet:
    """Feature rows of the labelled images (per head), fire or not, and whether the licence allows training."""

    x: dict[str, Array]
    fire: npt.NDArray[np.bool_]
    trainable: npt.NDArray[np.bool_]
    names: list[str]


def load(data: Path) -> ImageSet:
    """Embedding and colour features of every image under data/images/{fire,nofire,smoke}; cair_* are trainable."""
    state = backbone.status()
    if not state.available:
        raise SystemExit(f"bench.flame_image: {state.reason}")
    embedded, rows, fire, trainable, names = [], [], [], [], []
    for label in ("fire", "nofire", "smoke"):
        folder = data / "images" / label
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            image = np.asarray(cv2.imread(str(path)), np.uint8)
            embedded.append(backbone.embedding(image))
            rows.append(features(Frame(image, 0)))
            fire.append(label == "fire")
            trainable.append(path.name.startswith("cair_"))
            names.append(path.name)
    x = {"embedding": np.asarray(embedded), "colour": np.asarray(rows)}
    return ImageSet(x, np.asarray(fire), np.asarray(trainable), names)


def fit(x: Array, y: Array, lam: float) -> LinearModel:
    """L2-regularised logistic regression on standardised features, by Newton's method (threshold 0.5 for now).

    With more features than rows the optimum lies in the span of the rows, so the fit runs on their
    coordinates in that span and maps back: exact, and 1280-d costs as little as 86-d.
    """
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    basis = _row_space(z) if z.shape[1] > z.shape[0] else np.eye(z.shape[1])
    w = _newton(np.c_[np.ones(len(x)), z @ basis.T], y, lam)
    return LinearModel(mean, scale, basis.T @ w[1:], float(w[0]), 0.5)


def _row_space(z: Array) -> Array:
    """An orthonormal basis (rows) of the span of z's rows, from the small Gram matrix z z^T."""
    values, vectors = np.linalg.eigh(z @ z.T)
    keep = values > 1e-10 * values.max()
    basis: Array = (z.T @ vectors[:, keep] / np.sqrt(values[keep])).T
    return basis


def _newton(a: Array, y: Array, lam: float) -> Array:
    """Intercept and weights of the L2-penalised logistic regression on design matrix `a` (first column ones)."""
    w = np.zeros(a.shape[1])
    ridge = lam * np.eye(a.shape[1])
    ridge[0, 0] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-a @ w))
        step = np.linalg.solve((a * (p * (1 - p))[:, None]).T @ a + ridge, a.T @ (p - y) + ridge @ w)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def logits(model: LinearModel, x: Array) -> Array:
    """The model's log-odds for many rows (monotonic in its probability)."""
    out: Array = model.intercept + ((x - model.mean) / model.scale) @ model.coef
    return out


def folds(y: Array, k: int, rng: np.random.Generator) -> Index:
    """A stratified fold number per row."""
    out = np.empty(len(y), np.int64)
    for c in (0.0, 1.0):
        rows = rng.permutation(np.flatnonzero(y == c))
        out[rows] = np.arange(len(rows)) % k
    return out


def threshold_at(scores: Array, y: Array, fpr: float = FPR) -> float:
    """The least score above which at most `fpr` of the negatives lie."""
    neg = np.sort(scores[y == 0])[::-1]
    return float(neg[int(np.floor(fpr * len(neg)))])


def recall_at(scores: Array, y: Array, fpr: float = FPR) -> float:
    """Recall of the positives scoring above the 5 %-false-positive threshold of these same scores."""
    return float((scores[y == 1] > threshold_at(scores, y, fpr)).mean())


def out_of_fold(x: Array, y: Array, lam: float, rng: np.random.Generator) -> Array:
    """Out-of-fold log-odds of every row for one regularisation strength."""
    out = np.zeros(len(y))
    f = folds(y, FOLDS, rng)
    for j in range(FOLDS):
        model = fit(x[f != j], y[f != j], lam)
        out[f == j] = logits(model, x[f == j])
    return out


def choose(
    x: Array, y: Array, rng: np.random.Generator, lambdas: tuple[float, ...], repeats: int = 1
) -> tuple[float, float]:
    """The regularisation with the best out-of-fold recall at 5 % FPR (ties: the stronger) and its threshold."""
    best: tuple[float, float, float] | None = None
    for lam in lambdas:
        runs = [out_of_fold(x, y, lam, rng) for _ in range(repeats)]
        score = float(np.mean([recall_at(s, y) for s in runs]))
        cut = float(np.median([threshold_at(s, y) for s in runs]))
        if best is None or score >= best[0]:
            best = (score, lam, cut)
    assert best is not None
    return best[1], best[2]


@dataclass
class Round:
    """One repetition of the outer cross-validation."""

    ranked_recall: float
    recall: float
    fpr: float
    auc: float


def outer_round(s: ImageSet, head: str, rng: np.random.Generator) -> Round:
    """Nested 5-fold CV of one head over the trainable images; the others are scored by every fold's model."""
    x, y = s.x[head], s.fire.astype(np.float64)
    train_rows, held = np.flatnonzero(s.trainable), np.flatnonzero(~s.trainable)
    scores = np.zeros(len(y))
    passed = np.zeros(len(y))
    f = folds(y[train_rows], FOLDS, rng)
    for j in range(FOLDS):
        tr, te = train_rows[f != j], train_rows[f == j]
        lam, cut = choose(x[tr], y[tr], rng, LAMBDAS[head])
        model = fit(x[tr], y[tr], lam)
        scores[te] = logits(model, x[te])
        passed[te] = scores[te] > cut
        held_scores = logits(model, x[held])
        scores[held] += held_scores / FOLDS
        passed[held] += (held_scores > cut) / FOLDS
    pos, neg = scores[y == 1], scores[y == 0]
    auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    return Round(recall_at(scores, y), float(passed[y == 1].mean()), float(passed[y == 0].mean()), auc)


def cross_validate(s: ImageSet, repeats: int, seed: int = 0, head: str = "embedding") -> list[Round]:
    """`repeats` rounds of the nested cross-validation of one head."""
    rng = np.random.default_rng(seed)
    return [outer_round(s, head, rng) for _ in range(repeats)]


def train_head(s: ImageSet, head: str, seed: int = 0) -> tuple[LinearModel, float]:
    """One head: regularisation and threshold by repeated CV on the trainable images, fit on all of them."""
    x, y = s.x[head][s.trainable], s.fire[s.trainable].astype(np.float64)
    lam, cut = choose(x, y, np.random.default_rng(seed), LAMBDAS[head], repeats=10)
    model = fit(x, y, lam)
    probability_cut = float(1.0 / (1.0 + np.exp(-cut)))
    return LinearModel(model.mean, model.scale, model.coef, model.intercept, probability_cut), lam


def train(s: ImageSet, seed: int = 0) -> tuple[StillModel, dict[str, float]]:
    """The shipped model (both heads) and the L2 strength chosen for each."""
    embedding, lam_e = train_head(s, "embedding", seed)
    colour, lam_c = train_head(s, "colour", seed)
    return StillModel(embedding, colour), {"embedding": lam_e, "colour": lam_c}


def frame_ms(data: Path, head: str, runs: int = 50) -> float:
    """Mean CPU milliseconds (not wall time, which other processes inflate) of one head's score of a 640x360 frame."""
    folder = data / "images" / "fire"
    path = sorted(folder.iterdir())[0]
    image = np.asarray(cv2.imread(str(path)), np.uint8)
    bgr = np.asarray(cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA), np.uint8)
    dim = backbone.DIM if head == "embedding" else len(NAMES)
    model = LinearModel(np.zeros(dim), np.ones(dim), np.ones(dim), 0.0, 0.5)  # any weights cost the same

    def score() -> float:
        x = backbone.embedding(bgr) if head == "embedding" else features(Frame(bgr, 0))
        return model.probability(x)

    score()
    start = time.process_time()
    for _ in range(runs):
        score()
    return 1000 * (time.process_time() - start) / runs


def clip_scores(data: Path, threshold: float) -> None:
    """The still-image score on one frame per second of each clip: would it help as a gate on video?"""
    for path in sorted((data / "video").glob("*.*")):
        cap = cv2.VideoCapture(str(path))
        step = max(1, round(cap.get(cv2.CAP_PROP_FPS) or 25.0))
        scores, index = [], 0
        ok, frame = cap.read()
        while ok:
            if index % step == 0:
                scores.append(probability(np.asarray(frame, np.uint8)))
            ok, frame = cap.read()
            index += 1
        cap.release()
        v = np.asarray(scores)
        print(f"  {path.name[:42]:42s} mean {v.mean():.2f}  min {v.min():.2f}  max {v.max():.2f}  "
              f"share >= threshold {(v >= threshold).mean():.2f}")


def spread(values: list[float]) -> str:
    """Mean, standard deviation and range of a figure over repetitions."""
    v = np.asarray(values)
    return f"{v.mean():.2f} ± {v.std():.2f} (min {v.min():.2f}, max {v.max():.2f})"


HEADS = ("embedding", "colour")


def report(s: ImageSet, head: str, repeats: int, data: Path) -> None:
    """Print one head's nested cross-validated figures and its cost."""
    rounds = cross_validate(s, repeats, head=head)
    dim = s.x[head].shape[1]
    print(f"{head} head ({dim} features), nested {FOLDS}-fold CV x {repeats}:")
    print(f"  recall at FPR <= 5 % (out-of-fold scores ranked together): {spread([r.ranked_recall for r in rounds])}")
    print(f"  at the threshold chosen inside each fold: recall {spread([r.recall for r in rounds])}")
    print(f"                                            FPR    {spread([r.fpr for r in rounds])}")
    print(f"  ROC AUC {spread([r.auc for r in rounds])}")
    print(f"  cost: {frame_ms(data, head):.2f} CPU ms per 640x360 frame (one thread)", flush=True)


def main() -> None:
    """Parse arguments, print the cross-validated figures, and optionally write the weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--head", choices=("embedding", "colour", "both"), default="both")
    parser.add_argument("--write", action="store_true", help="train on all cair images and write the weights")
    parser.add_argument("--clips", action="store_true", help="also score one frame per second of every clip")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    s = load(args.data)
    n_train = int(s.trainable.sum())
    print(f"images: {int(s.fire.sum())} fire, {int((~s.fire).sum())} negatives; "
          f"{n_train} trainable (cair, MIT), {len(s.fire) - n_train} held out (HPWREN, research-only)")
    for head in HEADS if args.head == "both" else (args.head,):
        report(s, head, args.repeats, args.data)
    if args.write:
        model, lams = train(s)
        about: dict[str, object] = {
            "trained_on": f"{n_train} cair images (MIT, Copyright 2017 Jivitesh Sharma), see docs/detectors.md",
            "command": "python -m bench.flame_image --write",
            "l2": lams,
        }
        WEIGHTS.write_text(model.to_json(about), encoding="utf-8")
        print(f"wrote {WEIGHTS.relative_to(REPO)}: embedding l2 {lams['embedding']:g}, threshold p >= "
              f"{model.embedding.threshold:.3f}; colour l2 {lams['colour']:g}, p >= {model.colour.threshold:.3f}")
    if args.clips:
        threshold = shipped_model().threshold
        print(f"clips, one frame per second, shipped model (threshold p >= {threshold:.3f}):")
        clip_scores(args.data, threshold)


if __name__ == "__main__":
    main()
