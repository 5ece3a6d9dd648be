"""Synthetic test footage for the detector tests: frames made with numpy/OpenCV, and a clip writer.

No real footage is committed (see docs/detectors.md); every scene here is drawn from a seeded RNG.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
W, H = 320, 240


def background(seed: int = 1, w: int = W, h: int = H) -> Image:
    """A textured, muted outdoor-like scene: blurred blocks of grey-green with some sharp edges."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), (90, 110, 100), np.uint8)
    for _ in range(40):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(40, 150, 3))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(5, 60)), y + int(rng.integers(5, 40))), colour, -1)
    return np.asarray(cv2.GaussianBlur(img, (3, 3), 0), np.uint8)


def noisy(img: Image, rng: np.random.Generator, sigma: float = 2.0) -> Image:
    """The image with sensor noise, as a real camera never repeats a frame exactly."""
    noise = rng.normal(0, sigma, img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def flame(n: int, seed: int = 2, at: tuple[int, int] = (160, 170), base: Image | None = None) -> Iterator[Image]:
    """A flickering, growing flame: overlapping orange-to-yellow ellipses that change every frame."""
    rng = np.random.default_rng(seed)
    base = background(seed) if base is None else base
    for i in range(n):
        img = base.copy()
        size = 12 + min(i, 30) // 3
        for _ in range(6):
            cx = at[0] + int(rng.integers(-size // 2, size // 2 + 1))
            cy = at[1] - int(rng.integers(0, size))
            axes = (int(rng.integers(size // 3, size)), int(rng.integers(size // 2, size * 2)))
            colour = (int(rng.integers(0, 60)), int(rng.integers(60, 200)), int(rng.integers(200, 256)))
            cv2.ellipse(img, (cx, cy), axes, 0, 0, 360, colour, -1)
        core = (at[0] + int(rng.integers(-3, 4)), at[1] - size // 2)
        cv2.ellipse(img, core, (size // 3, size // 2), 0, 0, 360, (120, 230, 255), -1)
        yield noisy(img, rng)


def blinking_lamp(n: int, seed: int = 3, period: int = 4) -> Iterator[Image]:
    """A neon-like orange sign at night switching on and off as a whole (a classic flame false alarm)."""
    rng = np.random.default_rng(seed)
    night = (background(seed) // 6).astype(np.uint8)
    for i in range(n):
        img = night.copy()
        if (i // (period // 2)) % 2 == 0:
            cv2.rectangle(img, (120, 60), (220, 110), (40, 140, 255), -1)
            cv2.circle(img, (170, 150), 20, (60, 180, 255), -1)
        yield noisy(img, rng)


def static_orange(n: int, seed: int = 4) -> Iterator[Image]:
    """A still orange object (a sunset-coloured sign): flame-coloured but never changing."""
    rng = np.random.default_rng(seed)
    img = background(seed)
    cv2.circle(img, (160, 120), 30, (30, 150, 255), -1)
    for _ in range(n):
        yield noisy(img, rng)


def dusk_city(seed: int = 15, lights: int = 300) -> Image:
    """A city at dusk: dark blocks of buildings and hundreds of small orange and yellow lights."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), (70, 45, 30), np.uint8)
    for _ in range(60):
        x, y = int(rng.integers(0, W)), int(rng.integers(H // 3, H))
        colour = tuple(int(c) for c in rng.integers(20, 90, 3))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(4, 30)), y + int(rng.integers(4, 30))), colour, -1)
    for _ in range(lights):
        x, y = int(rng.integers(0, W)), int(rng.integers(H // 3, H))
        colour = (int(rng.integers(0, 80)), int(rng.integers(120, 220)), int(rng.integers(220, 256)))
        cv2.circle(img, (x, y), int(rng.integers(1, 3)), colour, -1)
    return img


def shaking(frames: Iterable[Image], seed: int = 16, sigma_px: float = 1.5) -> Iterator[Image]:
    """The frames as a pole camera in the wind shows them: each shifted by its own sub-pixel offset."""
    rng = np.random.default_rng(seed)
    for img in frames:
        shift = np.array([[1, 0, rng.normal(0, sigma_px)], [0, 1, rng.normal(0, sigma_px)]], np.float32)
        h, w = img.shape[:2]
        yield np.asarray(cv2.warpAffine(img, shift, (w, h), borderMode=cv2.BORDER_REFLECT), np.uint8)


def still(img: Image, n: int, seed: int = 17) -> Iterator[Image]:
    """`n` frames of one image with sensor noise."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield noisy(img, rng)


def plume(n: int, seed: int = 5) -> Iterator[Image]:
    """A soft grey plume rising from a source and widening as it goes."""
    rng = np.random.default_rng(seed)
    base = background(seed).astype(np.float32)
    for i in range(n):
        layer = np.zeros((H, W), np.float32)
        for k in range(min(i, 40)):
            y = 200 - 4 * (i - k) % 200
            radius = 8 + (200 - y) // 8
            cv2.circle(layer, (160 + int(rng.integers(-3, 4)), y), radius, 1.0, -1)
        alpha = cv2.GaussianBlur(layer, (0, 0), 6) * 0.7
        grey = np.full_like(base, 200.0)
        img = base * (1 - alpha[..., None]) + grey * alpha[..., None]
        yield noisy(np.clip(img, 0, 255).astype(np.uint8), rng)


def rising_water(n: int, seed: int = 6, rise_px: float = 2.0) -> Iterator[Image]:
    """Blue water rising from the bottom of the frame, `rise_px` rows per frame, with ripples."""
    rng = np.random.default_rng(seed)
    base = background(seed)
    for i in range(n):
        img = base.copy()
        level = int(H - i * rise_px)
        if level < H:
            img[level:] = (150, 90, 30)
            for _ in range(10):
                x, y = int(rng.integers(0, W)), int(rng.integers(level, H))
                cv2.line(img, (x, y), (x + 15, y), (180, 120, 60), 1)
        yield noisy(img, rng)


def plume_on_black(n: int, seed: int = 12) -> Iterator[Image]:
    """White smoke welling up over a dark floor: soft grey puffs that rise slowly from the bottom and widen."""
    rng = np.random.default_rng(seed)
    base = (background(seed) // 5).astype(np.float32)
    puffs = [(int(rng.integers(40, W - 40)), int(rng.integers(0, 40)), float(rng.uniform(0.5, 1.0))) for _ in range(12)]
    for i in range(n):
        layer = np.zeros((H, W), np.float32)
        for x, start, strength in puffs:
            y = H + start - min(i, 60) * 2
            cv2.circle(layer, (x, y), 25 + min(i, 60) // 3, strength, -1)
        alpha = np.minimum(cv2.GaussianBlur(layer, (0, 0), 12), 0.9)
        img = base * (1 - alpha[..., None]) + 210.0 * alpha[..., None]
        yield noisy(np.clip(img, 0, 255).astype(np.uint8), rng)


def churning(n: int, start: int, seed: int = 13) -> Iterator[Image]:
    """From frame `start`, the lower half is covered by coloured blotches redrawn every frame (a churning surface)."""
    rng = np.random.default_rng(seed)
    base = background(seed)
    for i in range(n):
        img = base.copy()
        if i >= start:
            for _ in range(60):
                x, y = int(rng.integers(0, W)), int(rng.integers(H // 2, H))
                colour = tuple(int(c) for c in rng.integers(0, 256, 3))
                cv2.circle(img, (x, y), int(rng.integers(8, 20)), colour, -1)
        yield noisy(img, rng)


def settled_haze(n: int, appear: int, seed: int = 14) -> Iterator[Image]:
    """A soft grey haze that drifts in at frame `appear` and then hangs still, fading into the scene (no outline)."""
    rng = np.random.default_rng(seed)
    base = background(seed).astype(np.float32)
    layer = np.zeros((H, W), np.float32)
    cv2.circle(layer, (160, 150), 45, 0.8, -1)
    alpha = cv2.GaussianBlur(layer, (0, 0), 18)[..., None]
    hazy = np.clip(base * (1 - alpha) + 200.0 * alpha, 0, 255).astype(np.uint8)
    for i in range(n):
        yield noisy(hazy if i >= appear else base.astype(np.uint8), rng)


def debris_in_water(n: int, appear: int, seed: int = 15) -> Iterator[Image]:
    """From frame `appear`, rippling water covers the lower half and a box lies in it (the scene changed around it)."""
    rng = np.random.default_rng(seed)
    base = background(seed)
    for i in range(n):
        img = base.copy()
        if i >= appear:
            img[H // 2 :] = (120, 100, 70)
            for _ in range(120):
                x, y = int(rng.integers(0, W)), int(rng.integers(H // 2, H))
                cv2.line(img, (x, y), (x + 20, y), (170, 150, 120), 2)
            cv2.rectangle(img, (130, 160), (180, 195), (20, 20, 200), -1)
        yield noisy(img, rng)


def new_object(n: int, appear: int, seed: int = 7, leave: int | None = None) -> Iterator[Image]:
    """A dark box (a parked car, a dumped bag) that appears at frame `appear` and stays (or leaves)."""
    rng = np.random.default_rng(seed)
    base = background(seed)
    for i in range(n):
        img = base.copy()
        if i >= appear and (leave is None or i < leave):
            cv2.rectangle(img, (100, 140), (160, 180), (20, 20, 200), -1)
        yield noisy(img, rng)


def walkers(n: int, people: int, seed: int = 8) -> Iterator[Image]:
    """`people` dark blobs wandering across a plain square."""
    rng = np.random.default_rng(seed)
    base = np.full((H, W, 3), 170, np.uint8)
    pos = rng.uniform((20, 20), (W - 20, H - 20), (people, 2))
    vel = rng.normal(0, 4, (people, 2))
    for _ in range(n):
        img = base.copy()
        pos = np.clip(pos + vel, 10, (W - 10, H - 10))
        for x, y in pos:
            cv2.ellipse(img, (int(x), int(y)), (5, 9), 0, 0, 360, (40, 40, 50), -1)
        yield noisy(img, rng)


def dusk(n: int, seed: int = 10, end_gain: float = 0.45) -> Iterator[Image]:
    """A still scene whose light fades smoothly to `end_gain` of its brightness (a day-to-dusk timelapse)."""
    rng = np.random.default_rng(seed)
    base = background(seed).astype(np.float32)
    for i in range(n):
        gain = 1.0 - (1.0 - end_gain) * i / max(1, n - 1)
        yield noisy(np.clip(base * gain, 0, 255).astype(np.uint8), rng)


def panning(n: int, seed: int = 11, px_per_frame: float = 3.0) -> Iterator[Image]:
    """A still scene filmed by a camera panning sideways and tilting (hand-held): every part of the view shifts."""
    rng = np.random.default_rng(seed)
    wide = background(seed, W + 2 * n * 4, H + n * 2)
    for i in range(n):
        x, y = round(i * px_per_frame), round(i * px_per_frame / 3)
        yield noisy(np.ascontiguousarray(wide[y : y + H, x : x + W]), rng)


def tampered(n: int, start: int, kind: str, seed: int = 9) -> Iterator[Image]:
    """A normal scene that from frame `start` is covered, defocused, moved (panned away) or frozen."""
    rng = np.random.default_rng(seed)
    base = background(seed)
    frozen: Image | None = None
    for i in range(n):
        img = noisy(base, rng)
        if i >= start:
            if kind == "covered":
                img = noisy(np.full_like(base, 12), rng, 1.0)
            elif kind == "defocused":
                img = noisy(np.asarray(cv2.GaussianBlur(base, (0, 0), 3), np.uint8), rng)
            elif kind == "moved":
                img = noisy(np.asarray(np.rot90(background(seed + 100, H, W)), np.uint8).copy(), rng)
            elif kind == "frozen":
                frozen = img if frozen is None else frozen
                img = frozen
        yield img


def write_clip(path: Path, frames: Iterable[Image], fps: float = 5.0, h264: bool = False) -> Path:
    """Write frames as an MJPG .avi with OpenCV, or as H.264 .mp4 through Debian's ffmpeg."""
    items = list(frames)
    height, width = items[0].shape[:2]
    if not h264:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
        for img in items:
            writer.write(img)
        writer.release()
        return path
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is needed to write H.264 clips")
    command = [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}"]
    command += ["-r", str(fps), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, input=b"".join(img.tobytes() for img in items), check=True)
    return path


def mislabelled_avi(path: Path, frames: Iterable[Image], fps: float, declared_fps: float) -> Path:
    """An H.264 AVI whose frames are `fps` apart while its header declares `declared_fps` (as some cameras write)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is needed to write H.264 clips")
    mp4 = write_clip(path.with_suffix(".mp4"), frames, fps=fps, h264=True)
    command = [ffmpeg, "-loglevel", "error", "-y", "-i", str(mp4), "-c", "copy", "-r", str(declared_fps), str(path)]
    subprocess.run(command, check=True)
    return path


def read_clip(path: Path) -> Iterator[Image]:
    """Decode every frame of a clip with OpenCV."""
    cap = cv2.VideoCapture(str(path))
    try:
        ok, img = cap.read()
        while ok:
            yield np.asarray(img, np.uint8)
            ok, img = cap.read()
    finally:
        cap.release()
