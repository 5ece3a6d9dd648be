"""The worker's pre/post clip buffer: recent JPEG frames bounded by time and bytes, and detection episodes.

An episode is a run of detections of one detector in one zone with gaps of at most the cooldown; its
first detection starts a clip of `pre_s` before to `post_s` after it, and every detection of the episode
carries that clip's reference. An episode that starts while a clip is being recorded shares that clip
(its window already covers the moment). Pure: times are the frames' own, so tests drive them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from adapters.camera.sampler import Sampler

__all__ = ["ClipRecorder", "FrameRing", "Recording", "clip_ref"]

NS_PER_S = 1_000_000_000


def clip_ref(camera: str, trigger_ns: int) -> str:
    """The evidence reference of a camera's clip triggered at `trigger_ns`."""
    return f"clip:{camera}/{trigger_ns}"


class FrameRing:
    """Frames (time, JPEG), oldest first; `add` drops those before a horizon, then the oldest over the bytes."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("the clip buffer needs at least 1 byte")
        self.max_bytes = max_bytes
        self._frames: deque[tuple[int, bytes]] = deque()
        self.bytes = 0
        self.dropped = 0
        """Frames dropped by the byte bound (frames older than the horizon expire uncounted)."""

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, ts_ns: int, jpeg: bytes, keep_from_ns: int) -> None:
        """Append a frame, expire frames before `keep_from_ns`, then drop the oldest beyond `max_bytes`."""
        self._frames.append((ts_ns, jpeg))
        self.bytes += len(jpeg)
        frames = self._frames
        while frames and frames[0][0] < keep_from_ns:
            self.bytes -= len(frames.popleft()[1])
        while self.bytes > self.max_bytes:
            self.bytes -= len(frames.popleft()[1])
            self.dropped += 1

    def between(self, start_ns: int, end_ns: int) -> list[tuple[int, bytes]]:
        """The frames with start <= time < end, oldest first."""
        return [(ts, jpeg) for ts, jpeg in self._frames if start_ns <= ts < end_ns]


@dataclass(frozen=True, slots=True)
class Recording:
    """A clip being recorded: its reference and window."""

    ref: str
    trigger_ns: int
    start_ns: int
    end_ns: int


class ClipRecorder:
    """Samples frames into the ring, opens one clip per episode, says when a clip's window is complete."""

    def __init__(
        self, camera: str, pre_s: float, post_s: float, fps: float, cooldown_s: float, max_bytes: int
    ) -> None:
        self.camera = camera
        self.pre_ns = round(pre_s * NS_PER_S)
        self.post_ns = round(post_s * NS_PER_S)
        self.cooldown_ns = round(cooldown_s * NS_PER_S)
        self.fps = fps
        self.sampler = Sampler(fps)
        self.ring = FrameRing(max_bytes)
        self.recording: Recording | None = None
        self._episodes: dict[tuple[str, str], tuple[int, str]] = {}
        """(detector, zone) -> (time of its last detection, its clip reference)."""

    def wants(self, ts_ns: int) -> bool:
        """Whether the frame at `ts_ns` goes into the ring (call for every decoded frame, in order)."""
        return self.sampler.take(ts_ns)

    def add(self, ts_ns: int, jpeg: bytes) -> Recording | None:
        """Buffer a frame; the recording whose window it completes, if any (take its `frames` right away)."""
        rec = self.recording
        horizon = ts_ns - self.pre_ns if rec is None else min(ts_ns - self.pre_ns, rec.start_ns)
        self.ring.add(ts_ns, jpeg, horizon)
        if rec is not None and ts_ns >= rec.end_ns:
            self.recording = None
            return rec
        return None

    def frames(self, rec: Recording) -> list[tuple[int, bytes]]:
        """The buffered frames of a recording's window."""
        return self.ring.between(rec.start_ns, rec.end_ns)

    def on_detection(self, detector: str, zone: str, ts_ns: int) -> str:
        """The clip reference of this detection's episode; a new episode may start a recording."""
        key = (detector, zone)
        last = self._episodes.get(key)
        if last is not None and 0 <= ts_ns - last[0] <= self.cooldown_ns:
            ref = last[1]
        elif self.recording is not None:  # under way: its window covers this detection (add() ends it first)
            ref = self.recording.ref
        else:
            self.recording = Recording(clip_ref(self.camera, ts_ns), ts_ns, ts_ns - self.pre_ns, ts_ns + self.post_ns)
            ref = self.recording.ref
        self._episodes = {k: v for k, v in self._episodes.items() if 0 <= ts_ns - v[0] <= self.cooldown_ns}
        self._episodes[key] = (ts_ns, ref)
        return ref

    def finish(self) -> Recording | None:
        """The recording still open when the source ends (its clip is cut short)."""
        rec, self.recording = self.recording, None
        return rec
