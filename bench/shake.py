"""Detectors under camera shake: the no-fire photos of ../shared/data turned into shaking clips.

Every development clip comes from a steady camera; a pole camera in the wind is not steady. Each
negative photo becomes a 12 s clip at 5 fps (640x360, sensor noise, every frame shifted by its own
random offset of sigma pixels) and each detector counts the photos it fires on. None of them shows
an event, so every firing is a false alarm. `--no-compensation` measures flame without taking the
view's own shift out (detectors/flame.py `steady_previous`), as it ran before.

    .venv/bin/python -m bench.shake [--data ../shared/data] [--sigma 1.5 3] [--detectors flame smoke]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from bench.video_eval import SETTINGS
from detectors import DetectorSet, Scene, flame, parse_settings
from detectors.registry import load_all
from tests.data.video.clips import shaking, still

REPO = Path(__file__).resolve().parents[1]
SIZE = (640, 360)


def fires(image: np.ndarray, detector: str, sigma_px: float, seed: int) -> bool:
    """Whether the detector fires on the photo shaken by sigma_px for 12 s at 5 fps (settings as video_eval's)."""
    detectors = DetectorSet(Scene("shake", *SIZE), [parse_settings(SETTINGS[detector])])
    frames = shaking(still(image, 60, seed=seed), seed=seed + 1, sigma_px=sigma_px)
    return any(detectors.process(frame, i * 200_000_000) for i, frame in enumerate(frames))


def main() -> None:
    """Parse arguments and print, per detector and shake, how many photos it fired on."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sigma", type=float, nargs="+", default=[1.5, 3.0])
    parser.add_argument("--detectors", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--no-compensation", action="store_true", help="flame without the shift taken out")
    args = parser.parse_args()
    load_all()
    cv2.setNumThreads(1)
    if args.no_compensation:
        flame.steady_previous = lambda prev, grey: prev
    folder = args.data / "images" / "nofire"
    read = [(p.name, cv2.imread(str(p))) for p in sorted(folder.iterdir())] if folder.is_dir() else []
    photos = [(name, np.asarray(cv2.resize(img, SIZE), np.uint8)) for name, img in read if img is not None]
    if not photos:
        raise SystemExit(f"no photos in {folder}: --data names the folder that holds images/nofire/")
    print(f"{len(photos)} no-fire photos from {folder} as 12 s shaking clips at 5 fps, {SIZE[0]}x{SIZE[1]}"
          + (" (flame: no shift compensation)" if args.no_compensation else ""))  # fmt: skip
    for detector in args.detectors:
        for sigma in args.sigma:
            fired = [name for i, (name, img) in enumerate(photos) if fires(img, detector, sigma, seed=i)]
            names = f"  ({', '.join(n[:28] for n in fired[:6])}{' …' if len(fired) > 6 else ''})" if fired else ""
            print(f"  {detector:10s} shake sigma {sigma:4.1f} px: fired on {len(fired):3d} of {len(photos)}{names}")


if __name__ == "__main__":
    main()
