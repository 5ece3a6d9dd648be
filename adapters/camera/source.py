"""A camera source through OpenCV's VideoCapture (FFmpeg backend): every frame grabbed, sampled ones retrieved."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from adapters.camera.mediatime import MediaTime
from adapters.camera.spec import CameraSpec

__all__ = ["SourceError", "VideoSource", "fit"]

Image = npt.NDArray[np.uint8]
_DEFAULT_FILE_FPS = 25.0


class SourceError(Exception):
    """The source could not be opened, or a live stream was lost (the text carries no credentials)."""


class VideoSource:
    """One open capture. `grab()` decodes the next frame and returns its time; `retrieve()` gives it as BGR."""

    def __init__(
        self,
        spec: CameraSpec,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spec = spec
        self._wall_ns = wall_ns
        self._monotonic = monotonic
        self._sleep = sleep
        self._cap: cv2.VideoCapture | None = None
        self.live = spec.kind != "file"
        self.period_ns = 0
        """A file's declared frame period: its frames' times where the container has no timestamps."""
        self._media = MediaTime()
        """A file frame's time is base + its media time (container timestamps, going on across loops)."""
        self._pass_count = 0
        self._base_ns = 0
        self._base_mono = 0.0

    def open(self) -> None:
        """Open the capture; SourceError when it cannot be opened within the open timeout."""
        self._cap = self._capture()
        if not self._cap.isOpened():
            self._cap.release()
            self._cap = None
            raise SourceError(f"cannot open {self.spec.kind} source {self.spec.label}")
        if not self.live:
            fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
            fps = fps if math.isfinite(fps) and 0.5 <= fps <= 240 else _DEFAULT_FILE_FPS
            self.period_ns = round(1e9 / fps)
            if not self._base_ns:
                self._base_ns, self._base_mono = self._wall_ns(), self._monotonic()

    def _capture(self) -> cv2.VideoCapture:
        """A VideoCapture with the decoder threads and timeouts set at open."""
        spec = self.spec
        if spec.kind == "device":
            index = int(spec.target) if spec.target.isdigit() else spec.target
            return cv2.VideoCapture(index, cv2.CAP_V4L2)
        params = [cv2.CAP_PROP_N_THREADS, spec.decoder_threads]
        if self.live:
            params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(spec.open_timeout_s * 1000)]
            params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(spec.read_timeout_s * 1000)]
        return cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, params)

    @property
    def size(self) -> tuple[int, int]:
        """The stream's (width, height) as the capture reports it."""
        if self._cap is None:
            return 0, 0
        return int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))

    def grab(self) -> int | None:
        """Decode the next frame; its time in ns, None when a file played once is over; SourceError when lost."""
        if self._cap is None:
            raise SourceError("the source is not open")
        if self._cap.grab():
            return self._stamp()
        if self.live:
            raise SourceError(f"stream {self.spec.label} lost: no frame within the read timeout, or it ended")
        if not self.spec.loop:
            return None
        if self._pass_count == 0:
            raise SourceError(f"file {self.spec.label} has no decodable frame")
        self._rewind()
        if not self._cap.grab():
            raise SourceError(f"file {self.spec.label} cannot be read again from its start")
        return self._stamp()

    def _rewind(self) -> None:
        """Start a looped file again (reopened: seeking is not reliable in every container)."""
        self.close()
        self.open()
        self._pass_count = 0
        self._media.restart(self.period_ns)

    def _stamp(self) -> int:
        """The time of the frame just grabbed: now for live streams; media time (paced if realtime) for files."""
        if self.live:
            return self._wall_ns()
        assert self._cap is not None
        offset_ns = self._media.stamp(float(self._cap.get(cv2.CAP_PROP_POS_MSEC)), self.period_ns)
        self._pass_count += 1
        if self.spec.realtime:
            delay = self._base_mono + offset_ns / 1e9 - self._monotonic()
            if delay > 0:
                self._sleep(delay)
        return self._base_ns + offset_ns

    def retrieve(self) -> Image | None:
        """The frame last grabbed as a BGR image, or None when it cannot be decoded."""
        if self._cap is None:
            return None
        ok, image = self._cap.retrieve()
        if not ok or image is None:
            return None
        return np.asarray(image, np.uint8)

    def close(self) -> None:
        """Release the capture."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def fit(image: Image, size: tuple[int, int] | None) -> Image:
    """The image at the detect size: halved (area-averaged) while it is twice too big, then linearly resized.

    OpenCV's area resize is fast only at exactly 2x; at other factors it costs up to 10 times more
    (1080p to 640x360: 3.4 ms direct, 1.2 ms halved then linear; see bench/video.py).
    """
    if size is None:
        return image
    width, height = size
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        half = (image.shape[1] // 2, image.shape[0] // 2)
        image = np.asarray(cv2.resize(image, half, interpolation=cv2.INTER_AREA), np.uint8)
    if (image.shape[1], image.shape[0]) == size:
        return image
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), np.uint8)
