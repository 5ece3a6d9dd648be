"""Evaluate the frame detectors on the development footage in ../shared/data (never committed).

Images (labels = folder names fire/smoke/nofire): the flame detector's single-frame path, with
precision, recall, F1 and false-positive rate at the configured threshold, plus the recall reached
at a 5 % false-positive rate. Clips (labels from SOURCES.md section 3a), sampled at 5 fps as a
camera worker does: time to first detection on clips that show the event, false incidents per
hour on those that do not (detections less than 10 s apart are one incident), and the mean
analysis time per frame.

    .venv/bin/python -m bench.video_eval [--data ../shared/data] [--fps 5]
"""

from __future__ import annotations

import argparse
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

CLIPS: dict[str, set[str]] = {
    # SOURCES.md section 3a: the events each clip shows (detector names).
    "emoykim_test1_fire_smoke_outdoor.mp4": {"flame", "smoke"},
    "emoykim_test2_fire_kitchen_sink.mp4": {"flame"},
    "emoykim_test7_nofire_lasvegas_neon.mp4": set(),
    "parthsolanke_smoke_on_black.mp4": {"smoke"},
    "lamminhthien_vtest_crowd_overhead.avi": {"crowd"},
    "nasrfathy1_parking_lot_timelapse.mp4": {"stationary"},
    "miyanoshiho21_flood_indoor_cctv.mp4": {"water"},
}

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
    height, width = frame.shape[:2]
    zones = floor_zone(width, height) if detector == "water" else ()
    detectors = DetectorSet(Scene(path.stem, width, height, zones=zones), [parse_settings(SETTINGS[detector])])
    result = ClipResult(duration_s=0.0)
    index, next_s, last_ns = 0, 0.0, None
    while ok:
        t = index / clip_fps
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
        index += 1
    cap.release()
    result.duration_s = index / clip_fps
    return result


def eval_images(data: Path) -> None:
    """Flame's single-frame path over the labelled images."""
    threshold = FlameSettings.model_validate({}).image_threshold()
    scores: dict[str, list[float]] = {}
    for label in ("fire", "smoke", "nofire"):
        folder = data / "images" / label
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        scores[label] = [image_score(np.asarray(cv2.imread(str(f)), np.uint8)) for f in files]
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
    """Every temporal detector over every clip."""
    print(f"\nclips at {fps:g} fps (eval overrides: crowd hold_s=5, stationary min_s=3, water zone = lower half)")
    header = ("detector", "clip", "label", "first s", "incid.", "false/h", "ms/frame")
    print("  {:10s} {:42s} {:5s} {:>8s} {:>6s} {:>8s} {:>8s}".format(*header))
    for detector in SETTINGS:
        for name, events in CLIPS.items():
            path = data / "video" / name
            if not path.is_file():
                continue
            r = run_clip(path, detector, fps)
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
