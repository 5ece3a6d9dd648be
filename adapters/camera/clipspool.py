"""A clip being recorded, spooled to disk frame by frame so that a worker killed mid-recording keeps it.

The worker keeps the frames in memory and writes the finished clip from there (`avi.py`); the spool,
`<trigger ns>_<camera>.avi.rec` in the clip directory, is the insurance. When a worker dies before its
clip is finished (stall watchdog, crash, out of memory), the gateway turns the spool into the clip
with the frames it holds (`salvage`), and at start it does the same for spools a previous run left.

Layout: `GECLIP1\\n`, one JSON line (reference, window, nominal fps, frame size), then one record per
frame: little-endian int64 time (ns), uint32 length, the JPEG. A record cut short by the kill is
ignored. Writes are flushed to the kernel per frame (a killed process loses nothing the kernel has);
they are not fsynced: the spool only has to outlive the process, not the box.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import BinaryIO, Final

from adapters.camera.avi import write_mjpeg_avi
from adapters.camera.messages import ClipDone
from adapters.camera.ring import Recording

__all__ = ["SPOOL_SUFFIX", "ClipSpool", "played_fps", "salvage"]

MAGIC: Final = b"GECLIP1\n"
SPOOL_SUFFIX: Final = ".rec"
_RECORD: Final = struct.Struct("<qI")
_MAX_FRAME: Final = 64 << 20
"""A record claiming a bigger JPEG than this is garbage, not a frame."""


def played_fps(frames: list[tuple[int, bytes]], fps: float) -> float:
    """The rate the frames were taken at (a stream slower than the clip rate plays at its own pace)."""
    if len(frames) < 2:
        return fps
    span_s = (frames[-1][0] - frames[0][0]) / 1e9
    return min(fps, (len(frames) - 1) / span_s) if span_s > 0 else fps


class ClipSpool:
    """Appends a recording's frames to its spool file; `discard` once the clip itself is written."""

    def __init__(self, path: Path, rec: Recording, camera: str, fps: float, size: tuple[int, int]) -> None:
        self.path = path
        self.end_ns = rec.end_ns
        head = {"ref": rec.ref, "camera": camera, "trigger_ns": rec.trigger_ns, "start_ns": rec.start_ns,
                "end_ns": rec.end_ns, "fps": fps, "width": size[0], "height": size[1]}  # fmt: skip
        self._out: BinaryIO | None = path.open("wb")
        self._out.write(MAGIC + json.dumps(head).encode() + b"\n")
        self._out.flush()

    def add(self, ts_ns: int, jpeg: bytes) -> None:
        """Append one frame of the window."""
        if self._out is not None:
            self._out.write(_RECORD.pack(ts_ns, len(jpeg)) + jpeg)
            self._out.flush()

    def discard(self) -> None:
        """Close and delete the spool (the clip was written, or could not be)."""
        if self._out is not None:
            self._out.close()
            self._out = None
        self.path.unlink(missing_ok=True)


def read_spool(path: Path) -> tuple[dict[str, object], list[tuple[int, bytes]]]:
    """A spool's header and its whole frames (a record cut short at the end is left out)."""
    data = path.read_bytes()
    if not data.startswith(MAGIC) or b"\n" not in data[len(MAGIC) :]:
        raise ValueError("not a clip spool")
    end = data.index(b"\n", len(MAGIC))
    head = json.loads(data[len(MAGIC) : end])
    if not isinstance(head, dict):
        raise ValueError("clip spool header is not an object")
    frames: list[tuple[int, bytes]] = []
    at = end + 1
    while at + _RECORD.size <= len(data):
        ts_ns, size = _RECORD.unpack_from(data, at)
        at += _RECORD.size
        if size > _MAX_FRAME or at + size > len(data):
            break
        frames.append((ts_ns, data[at : at + size]))
        at += size
    return head, frames


def salvage(path: Path) -> ClipDone | None:
    """Write the clip a spool holds beside it and delete the spool; None when it holds no usable frame."""
    try:
        head, frames = read_spool(path)
        ref, camera, end = str(head["ref"]), str(head["camera"]), int(str(head["end_ns"]))
        fps = played_fps(frames, float(str(head["fps"])))
        size = (int(str(head["width"])), int(str(head["height"])))
        name = path.name.removesuffix(SPOOL_SUFFIX)
        if not frames or not name.endswith(".avi"):
            return None
        written = write_mjpeg_avi(path.with_name(name), [jpeg for _, jpeg in frames], fps, size)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        path.unlink(missing_ok=True)
    last = min(end, frames[-1][0] + round(1e9 / fps))
    return ClipDone(camera, ref, name, frames[0][0], last, len(frames), fps, written, "")
