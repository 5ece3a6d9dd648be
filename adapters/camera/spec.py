"""What a camera worker is told to do: a plain, picklable description of one camera (no config objects)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from adapters.camera.redact import Redactor, redact_url
from gateway.model import Detection

__all__ = ["CameraSpec", "ClipSpec", "FrameProcessor", "Polygon", "ProcessorFactory", "SourceKind"]

SourceKind = Literal["rtsp", "http", "file", "device"]
Polygon = tuple[tuple[int, int], ...]


class FrameProcessor(Protocol):
    """Turns BGR frames (at the detect size, in time order) into detections; `detectors.DetectorSet` is one."""

    def process(self, frame_bgr: npt.NDArray[np.uint8], ts_ns: int, /) -> list[Detection]:
        """Analyse one frame taken at `ts_ns`."""
        ...


ProcessorFactory = Callable[[], FrameProcessor]
"""Builds the processor inside the worker; must be picklable (a class or a functools.partial of one)."""


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """Pre/post clips around detection episodes, cut from a ring buffer of recent frames (docs/cameras.md)."""

    directory: str
    """Where finished clips are written (the gateway's clip store owns and bounds it)."""
    pre_s: float = 5.0
    post_s: float = 5.0
    fps: float | None = None
    """Frames per second kept in the ring; None keeps the detect rate (no extra frame is converted)."""
    quality: int = 70
    """JPEG quality of the buffered frames (they go into the clip as they are)."""
    max_bytes: int = 8 * 1024 * 1024
    """The ring's memory bound: beyond it the oldest frames are dropped (counted)."""
    cooldown_s: float = 30.0
    """Detections of one detector in one zone closer than this belong to one episode, and share one clip."""


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """One camera: where to read it, how often and how big to analyse, and what to send back."""

    id: str
    kind: SourceKind
    target: str = field(repr=False)
    """The URL (credentials included), file path or device; never shown: use `label`."""
    processor: ProcessorFactory | None = field(default=None, repr=False)
    transport: Literal["tcp", "udp"] = "tcp"
    loop: bool = True
    realtime: bool = True
    detect_fps: float = 5.0
    detect_size: tuple[int, int] | None = (640, 360)
    """(width, height) frames are resized to before analysis; None keeps the stream's size."""
    decoder_threads: int = 1
    opencv_threads: int = 1
    """OpenCV's own thread pool (resize, colour conversion): one camera uses about one core at most."""
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    ffmpeg_options: tuple[tuple[str, str], ...] = ()
    zones: tuple[Polygon, ...] = ()
    masks: tuple[Polygon, ...] = ()
    snapshot_max_bytes: int = 256 * 1024
    preview_interval_s: float = 1.0
    status_interval_s: float = 1.0
    outbox_capacity: int = 64
    detection_put_timeout_s: float = 2.0
    stderr_lines_per_s: int = 20
    stall_timeout_s: float = 20.0
    """Supervisor: no new frame for this long and the worker is restarted."""
    restart_min_s: float = 1.0
    """Supervisor: first delay before restarting a worker that stopped; doubles up to `restart_max_s`."""
    restart_max_s: float = 60.0
    clip: ClipSpec | None = None
    """Pre/post clips of detection episodes; None (the default) keeps no ring buffer."""

    @property
    def label(self) -> str:
        """The source as it may be shown: credentials masked."""
        return redact_url(self.target) if self.kind in ("rtsp", "http") else self.target

    def redactor(self) -> Redactor:
        """A redactor for every text this camera's worker emits."""
        return Redactor(urls=[self.target] if self.kind in ("rtsp", "http") else [])

    def capture_options(self) -> str:
        """The value of OPENCV_FFMPEG_CAPTURE_OPTIONS for this camera ("key;value|key;value")."""
        options = dict(self.ffmpeg_options)
        if self.kind == "rtsp":
            options.setdefault("rtsp_transport", self.transport)
        return "|".join(f"{key};{value}" for key, value in options.items())
