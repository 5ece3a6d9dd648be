"""What the status API shows per camera: state, rates, counters over restarts; no credentials."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["CameraState", "CameraStatus"]

CameraState = Literal["starting", "running", "backoff", "stalled", "ended", "stopped"]
"""starting: worker spawned, source opening; running: frames flow; backoff: waiting to restart a worker
that stopped or failed; stalled: no frame for the stall timeout, worker being killed; ended: a file
played once is over; stopped: the supervisor was stopped."""


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """One camera as the status page and metrics see it (counters are totals over every restart)."""

    camera: str
    source: str
    """The source with credentials masked."""
    state: CameraState
    pid: int | None
    restarts: int
    fps: float
    """Decoded frames per second (last status interval)."""
    analysed_fps: float
    frames: int
    analysed: int
    decode_errors: int
    detections: int
    clips: int
    """Pre/post clips written."""
    clip_errors: int
    clip_frames_dropped: int
    """Frames the clip ring dropped at its byte bound."""
    dropped: int
    """Messages dropped: worker outbox (status, previews, detections) plus gateway-side detection drops."""
    width: int
    height: int
    last_error: str
    last_frame_age_s: float | None
    has_preview: bool

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)
