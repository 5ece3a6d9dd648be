"""One frame as detectors see it: the full BGR image plus cached downscaled views shared by all detectors."""

from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


class Frame:
    """A BGR frame and its timestamp; the working-size views are computed once, on first use."""

    def __init__(self, bgr: Image, ts_ns: int, work_width: int = 320) -> None:
        if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
            raise ValueError(f"frame must be an HxWx3 uint8 BGR image, got {bgr.shape} {bgr.dtype}")
        self.bgr = bgr
        self.ts_ns = ts_ns
        height, width = bgr.shape[:2]
        work_w = min(work_width, width)
        self.work_size = (work_w, max(1, round(height * work_w / width)))
        self.scale = width / work_w
        """Frame pixels per working pixel (multiply working coordinates by it)."""
        self.camera_moving = False
        """Set by the detector set when the whole view shifted since the previous frame (see motion)."""

    @property
    def size(self) -> tuple[int, int]:
        """The full frame's (width, height)."""
        return self.bgr.shape[1], self.bgr.shape[0]

    @cached_property
    def small(self) -> Image:
        """The frame at working size (area-averaged, so noise drops too)."""
        if self.work_size == self.size:
            return self.bgr
        return np.asarray(cv2.resize(self.bgr, self.work_size, interpolation=cv2.INTER_AREA), dtype=np.uint8)

    @cached_property
    def grey(self) -> Image:
        """The working-size frame in grey levels."""
        return np.asarray(cv2.cvtColor(self.small, cv2.COLOR_BGR2GRAY), dtype=np.uint8)

    @cached_property
    def hsv(self) -> Image:
        """The working-size frame in HSV (OpenCV ranges: H 0-179, S and V 0-255)."""
        return np.asarray(cv2.cvtColor(self.small, cv2.COLOR_BGR2HSV), dtype=np.uint8)

    @cached_property
    def ycrcb(self) -> Image:
        """The working-size frame in YCrCb."""
        return np.asarray(cv2.cvtColor(self.small, cv2.COLOR_BGR2YCrCb), dtype=np.uint8)

    def tiny_grey(self, width: int) -> Image:
        """The grey frame shrunk further to `width` pixels (cheap global measures, motion)."""
        w, h = self.work_size
        if width >= w:
            return self.grey
        key = f"_tiny{width}"
        cached = self.__dict__.get(key)
        if cached is None:
            size = (width, max(1, round(h * width / w)))
            cached = np.asarray(cv2.resize(self.grey, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
            self.__dict__[key] = cached
        return cached
