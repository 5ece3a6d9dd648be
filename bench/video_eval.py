"""Evaluate the frame detectors on the development footage in ../shared/data (never committed).

Images (labels = folder names fire/smoke/nofire): the flame detector's single-frame path, with
precision, recall, F1 and false-positive rate at the configured threshold, plus the recall reached
at a 5 % false-positive rate. Clips (labels read from the SOURCES.md table rows naming `video/<file>`:
FIRE, SMOKE, FLOOD, CROWD, PARKED VEHICLES, NEGATIVE…; see LABEL_WORDS), sampled at 5 fps as a
camera worker does: time to first detection on clips that show the event, false incidents per
hour on those that do not (detections less than 10 s apart are one incident), and the mean
analysis time per frame. Frame times come from the container's timestamps.

    .venv/bin/python -m bench.video_eval [--data ../shared/data] [--fps 5]
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detectors import DetectorSet, Scene, Zone, parse_settings
from detectors.flame import FlameSettings, image_score
from detectors.registry import load_all

REPO = Path(__file__).resolve().parents[1]
GAP_NS = 10_000_000_000

LABEL_WORDS: dict[str, str | None] = {
    # The label words of SOURCES.md's clip table ("FIRE+SMOKE: outdoor fire …") -> detector names;
    # NEGATIVE shows none of the events. A clip whose label has no known word is left out, and said so.
    "FIRE": "flame", "FLAME": "flame", "SMOKE": "smoke", "FLOOD": "water", "FLOODING": "water",
    "WATER": "water", "CROWD": "crowd", "PARKED VEHICLES": "stationary", "PARKING": "stationary",
    "STATIONARY": "stationary", "GARBAGE": "stationary", "TAMPER": "tamper", "NEGATIVE": None,
}  # fmt: skip
_CLIP_ROW = re.compile(r"^\|\s*(?:data/)?video/([^|\s]+)\s*\|.*\|\s*([^|]*?)\s*\|\s*$")


def clip_labels(sources: Path) -> tuple[dict[str, set[str]], list[str]]:
    """The events each clip shows, read from the SOURCES.md table rows naming `video/<file>`, and the
    clips whose label has no known word. Read, not hard-coded, so other footage is judged the same way."""
    labels: dict[str, set[str]] = {}
    unknown: list[str] = []
    for line in sources.read_text(encoding="utf-8").splitlines():
        match = _CLIP_ROW.match(line)
        if match is None:
            continue
        name, label = match.group(1), match.group(2).split(":", 1)[0].upper()
        words = [w.strip() for w in re.split(r"[+/,&]|\bAND\b", label) if w.strip()]
        known = [w for w in words if w in LABEL_WORDS]
        if not known:
            unknown.append(name)
            continue
        labels[name] = {d for w in known if (d := LABEL_WORDS[w]) is not None}
    return labels, unknown


SETTINGS: dict[str, dict[str, Any]] = {
    # Defaults, except holds that exceed these short clips (stated in the output).
    "flame": {"type": "flame"},
    "smoke": {"type": "smoke"},
    "water": {"type": "water"},
    "crowd": {"type": "crowd", "hold_s": 5.0},
    "stationary": {"type": "stationary", "min_s": 3.0},
    "tamper": {"type": "tamper"},
}


@dataclass
class ClipResult:
    """One detector on one clip: detection times, incidents and cost."""

    duration_s: float
    first_s: float | None = None
    incidents: int = 0
    frames: int = 0
    busy_s: float = 0.0
    times: list[float] = field(default_factory=list)


def floor_zone(width: int, height: int) -> tuple[Zone, ...]:
    """The zone the water detector watches in the eval: the lower half of the frame (a floor)."""
    return (Zone("floor", ((0, height // 2), (width, height // 2), (width, height), (0, height))),)


def run_clip(path: Path, detector: str, fps: float) -> ClipResult:
    """Sample the clip at `fps`, feed one detector, and collect its detections."""
    cap = cv2.VideoCapture(str(path))
    clip_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    ok, frame = cap.read()
    if not ok:
        cap.release()
        return ClipResult(duration_s=0.0)  # unreadable: no frames (reported as such)
    height, width = frame.shape[:2]
    zones = floor_zone(width, height) if detector == "water" else ()
    detectors = DetectorSet(Scene(path.stem, width, height, zones=zones), [parse_settings(SETTINGS[detector])])
    result = ClipResult(duration_s=0.0)
    t, next_s, last_ns = -1.0, 0.0, None
    while ok:
        t = media_time(cap, t, clip_fps)
        if t >= next_s:
            next_s += 1 / fps
            ts_ns = int(t * 1e9)
            start = time.perf_counter()
            found = detectors.process(np.asarray(frame, np.uint8), ts_ns)
            result.busy_s += time.perf_counter() - start
            result.frames += 1
            if found:
                result.times.append(t)
                result.first_s = t if result.first_s is None else result.first_s
                if last_ns is None or ts_ns - last_ns > GAP_NS:
                    result.incidents += 1
                last_ns = ts_ns
        ok, frame = cap.read()
    cap.release()
    result.duration_s = t
    return result


def media_time(cap: cv2.VideoCapture, previous_s: float, fps: float) -> float:
    """The time of the frame just read, from the container's timestamps (one frame period on when they stall).

    Not frame index / declared rate: the crowd clip declares 50 fps but holds 25 fps of frames.
    """
    t = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000
    return t if t > previous_s else previous_s + 1 / fps


def eval_images(data: Path) -> None:
    """Flame's single-frame path over the labelled images."""
    threshold = FlameSettings.model_validate({}).image_threshold()
    scores: dict[str, list[float]] = {}
    for label in ("fire", "smoke", "nofire"):
        folder = data / "images" / label
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        images = [cv2.imread(str(f)) for f in files]
        unreadable = [f.name for f, image in zip(files, images, strict=True) if image is None]
        if unreadable:
            print(f"images/{label}: {len(unreadable)} unreadable, left out: {', '.join(unreadable[:10])}")
        scores[label] = [image_score(np.asarray(image, np.uint8)) for image in images if image is not None]
    pos = np.array(scores["fire"])
    neg = np.array(scores["nofire"] + scores["smoke"])
    tp, fp = int((pos >= threshold).sum()), int((neg >= threshold).sum())
    fn = len(pos) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / len(pos) if len(pos) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    at5 = float(np.quantile(neg, 0.95)) if len(neg) else 0.0
    counts = f"{len(pos)} fire, {len(scores['nofire'])} nofire, {len(scores['smoke'])} smoke"
    print(f"images: {counts} (nofire and smoke are negatives for flame)")
    print("  the cair images trained the shipped model: figures below are in-sample (optimistic);")
    print("  the honest cross-validated figures: python -m bench.flame_image")
    print(f"  flame  threshold {threshold:.3f}: precision {precision:.2f}  recall {recall:.2f}  F1 {f1:.2f}  "
          f"FPR {fp / len(neg):.3f}  (tp {tp} fp {fp} fn {fn})")
    print(f"  flame  recall at FPR 5 % (threshold {at5:.3f}): {(pos > at5).mean():.2f}")
    print("  smoke, water, crowd, stationary, tamper: temporal only, no single-frame path")


def eval_clips(data: Path, fps: float) -> None:
    """Every temporal detector over every labelled clip."""
    sources = data / "SOURCES.md"
    if not sources.is_file():
        print(f"\nclips: no {sources} to read their labels from; skipped")
        return
    clips, unknown = clip_labels(sources)
    if unknown:
        print(f"\nclips left out, their label names no known event ({', '.join(LABEL_WORDS)}): {', '.join(unknown)}")
    print(f"\nclips at {fps:g} fps (eval overrides: crowd hold_s=5, stationary min_s=3, water zone = lower half)")
    header = ("detector", "clip", "label", "first s", "incid.", "false/h", "ms/frame")
    print("  {:10s} {:42s} {:5s} {:>8s} {:>6s} {:>8s} {:>8s}".format(*header))
    for detector in SETTINGS:
        for name, events in clips.items():
            path = data / "video" / name
            if not path.is_file():
                continue
            r = run_clip(path, detector, fps)
            if r.frames == 0:
                print(f"  {detector:10s} {name[:42]:42s} unreadable: OpenCV decodes no frame")
                continue
            positive = detector in events
            first = f"{r.first_s:.1f}" if r.first_s is not None else "-"
            false_h = "" if positive else f"{r.incidents * 3600 / r.duration_s:.0f}"
            ms = 1000 * r.busy_s / max(1, r.frames)
            label = "pos" if positive else "neg"
            print(f"  {detector:10s} {name[:42]:42s} {label:5s} {first:>8s} {r.incidents:6d} {false_h:>8s} {ms:8.2f}")


def main() -> None:
    """Parse arguments and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--fps", type=float, default=5.0)
    args = parser.parse_args()
    load_all()
    cv2.setNumThreads(1)
    eval_images(args.data)
    eval_clips(args.data, args.fps)


if __name__ == "__main__":
    main()
