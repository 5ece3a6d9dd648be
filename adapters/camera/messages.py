"""What a camera worker sends to the gateway besides detections: periodic status, preview frames, finished clips."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ClipDone", "Preview", "Status", "WorkerState"]

WorkerState = Literal["connecting", "running", "ended", "failed"]
"""connecting: opening the source; running: frames flow; ended: a file played once is done;
failed: the source was lost or could not be opened (the worker exits next)."""


@dataclass(frozen=True, slots=True)
class Status:
    """A worker's counters since it started (cumulative) and its state; every text already redacted."""

    camera: str
    state: WorkerState
    frames: int = 0
    """Frames decoded (every frame of the stream, analysed or not)."""
    analysed: int = 0
    decode_errors: int = 0
    """Frames that failed to decode or retrieve, decoder error lines from FFmpeg, and rejected frames."""
    detections: int = 0
    fps: float = 0.0
    """Decoded frames per second over the last status interval."""
    analysed_fps: float = 0.0
    width: int = 0
    height: int = 0
    """The stream's frame size (before resizing to the detect size)."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Messages dropped by the outbox because the gateway read too slowly, by kind."""
    snapshots_shrunk: int = 0
    clips: int = 0
    """Clips written."""
    clip_errors: int = 0
    """Clips that could not be written (disk full, directory gone…)."""
    clip_frames_dropped: int = 0
    """Buffered frames dropped by the ring's byte bound (the clips then start later than asked)."""
    error: str = ""
    ts_ns: int = 0


@dataclass(frozen=True, slots=True)
class Preview:
    """The latest analysed frame with zones, masks and recent boxes drawn, as JPEG."""

    camera: str
    ts_ns: int
    jpeg: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ClipDone:
    """A clip the worker finished writing into the clip directory (file name only, no path)."""

    camera: str
    ref: str
    """The evidence reference its detections carried: `clip:<camera>/<trigger ts_ns>`."""
    name: str
    start_ns: int
    end_ns: int
    """Times of the first frame and just past the last one."""
    frames: int
    fps: float
    size: int
    error: str = ""
    """Why the clip could not be written (then nothing is on disk), already redacted."""
