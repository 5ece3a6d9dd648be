"""The gateway's clip directory: finished clips indexed by evidence reference, under a byte budget.

Workers write `<trigger ts_ns>_<camera>.avi` files (atomically) and report them; the store indexes
them, evicts the oldest (counted) once the directory holds more than `max_bytes`, and answers what an
evidence reference points at. Files are only ever reached through the index, never by a path built
from a request. At start it re-indexes the clips a previous run left and removes half-written ones;
the spool of a recording whose worker died (clipspool.py) becomes its clip, at start and on the exit.
"""

from __future__ import annotations

import logging
import re
import struct
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from adapters.camera.clipspool import SPOOL_SUFFIX, salvage
from adapters.camera.messages import ClipDone
from adapters.camera.ring import clip_ref

__all__ = ["ClipStore", "StoredClip"]

log = logging.getLogger("adapters.camera")
_NAME: Final = re.compile(r"^(\d{1,20})_([A-Za-z0-9_.-]{1,64})\.avi$")
_MAX_PENDING: Final = 1024
"""Clips announced by a detection and not yet written, remembered for `describe` (oldest forgotten)."""


@dataclass(frozen=True, slots=True)
class StoredClip:
    """One finished clip on disk."""

    ref: str
    camera: str
    path: Path
    start_ns: int
    end_ns: int
    frames: int
    fps: float
    size: int

    @property
    def duration_s(self) -> float:
        """How long it plays."""
        return round(self.frames / self.fps, 3) if self.fps > 0 else 0.0


class ClipStore:
    """Finished clips by reference, oldest evicted beyond `max_bytes`; thread-safe."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("the clip store needs a byte budget of at least 1")
        self.directory = directory
        self.max_bytes = max_bytes
        self.bytes = 0
        self.counters: Counter[str] = Counter()
        """written, salvaged, failed, evicted, evicted_bytes, partial_removed, unreadable_removed, bad_name."""
        self._clips: OrderedDict[str, StoredClip] = OrderedDict()
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def open(self) -> None:
        """Create the directory; finish the recordings a killed run left (spools), index the clips
        already there (oldest first), remove half-written ones."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.salvage()
        found: list[StoredClip] = []
        for path in sorted(self.directory.iterdir()):
            if path.name.endswith(".avi.part"):
                path.unlink(missing_ok=True)
                self.counters["partial_removed"] += 1
                continue
            clip = _read(path)
            if clip is None and _NAME.match(path.name):
                path.unlink(missing_ok=True)
                self.counters["unreadable_removed"] += 1
            elif clip is not None:
                found.append(clip)
        with self._lock:
            for clip in sorted(found, key=lambda c: c.start_ns):
                if clip.ref not in self._clips:  # salvaged above: indexed with its frames' real times
                    self._index(clip)
            self._clips = OrderedDict(sorted(self._clips.items(), key=lambda item: item[1].start_ns))
            self._evict()

    def expect(self, ref: str) -> None:
        """A detection carried this reference: its clip is being recorded."""
        with self._lock:
            if ref in self._clips:
                return
            self._pending[ref] = None
            self._pending.move_to_end(ref)
            while len(self._pending) > _MAX_PENDING:
                self._pending.popitem(last=False)

    def add(self, done: ClipDone) -> None:
        """A worker finished a clip: index it, then evict the oldest beyond the budget (or note its failure)."""
        if done.error:
            with self._lock:
                self._pending.pop(done.ref, None)
                self.counters["failed"] += 1
            return
        match = _NAME.match(done.name)
        if match is None or match.group(2) != done.camera or clip_ref(done.camera, int(match.group(1))) != done.ref:
            log.warning("camera %s: clip %r does not follow the naming scheme; ignored", done.camera, done.name)
            self.counters["bad_name"] += 1
            return
        path = self.directory / done.name
        clip = StoredClip(done.ref, done.camera, path, done.start_ns, done.end_ns, done.frames, done.fps, done.size)
        with self._lock:
            self._pending.pop(done.ref, None)
            self._index(clip)
            self.counters["written"] += 1
            self._evict()

    def salvage(self, camera: str | None = None) -> int:
        """Turn the spools of recordings a dead worker left (one camera's, or all) into clips; how many.

        Call only while no worker of that camera runs: at start, or once its worker exited.
        """
        count = 0
        pattern = f"*_{camera}.avi{SPOOL_SUFFIX}" if camera is not None else f"*.avi{SPOOL_SUFFIX}"
        for path in sorted(self.directory.glob(pattern)):
            done = salvage(path)
            if done is None:
                self.counters["unreadable_removed"] += 1
                continue
            log.warning("camera %s: its worker died while recording %s; kept the %d frame(s) it had",
                        done.camera, done.ref, done.frames)  # fmt: skip
            self.add(done)
            self.counters["salvaged"] += 1
            count += 1
        return count

    def forget(self, camera: str) -> None:
        """A camera's worker stopped: the clips it was recording will not come (their state turns missing)."""
        prefix = clip_ref(camera, 0)[:-1]
        with self._lock:
            for ref in [ref for ref in self._pending if ref.startswith(prefix)]:
                del self._pending[ref]

    def _index(self, clip: StoredClip) -> None:
        """Add a clip to the index (the caller holds the lock)."""
        old = self._clips.pop(clip.ref, None)
        if old is not None:
            self.bytes -= old.size
        self._clips[clip.ref] = clip
        self.bytes += clip.size

    def _evict(self) -> None:
        """Delete the oldest clips while over the budget (the caller holds the lock)."""
        while self.bytes > self.max_bytes and self._clips:
            _, clip = self._clips.popitem(last=False)
            clip.path.unlink(missing_ok=True)
            self.bytes -= clip.size
            self.counters["evicted"] += 1
            self.counters["evicted_bytes"] += clip.size

    def get(self, ref: str) -> StoredClip | None:
        """The finished clip a reference points at, if it is still kept."""
        with self._lock:
            return self._clips.get(ref)

    def kept(self) -> list[StoredClip]:
        """Every kept clip, oldest first."""
        with self._lock:
            return list(self._clips.values())

    def state(self, ref: str) -> str:
        """ready (kept), recording (announced, not written yet) or missing (evicted, lost or unknown)."""
        with self._lock:
            if ref in self._clips:
                return "ready"
            return "recording" if ref in self._pending else "missing"

    def stats(self) -> dict[str, int]:
        """Clips kept, their bytes, the budget, and the counters."""
        with self._lock:
            return {"clips": len(self._clips), "bytes": self.bytes, "max_bytes": self.max_bytes, **self.counters}


def _read(path: Path) -> StoredClip | None:
    """A clip file left by an earlier run, from its name and AVI main header; None when it is not one."""
    match = _NAME.match(path.name)
    if match is None:
        return None
    try:
        with path.open("rb") as f:
            head = f.read(56)
        size = path.stat().st_size
    except OSError:
        return None
    if len(head) < 56 or head[:4] != b"RIFF" or head[8:12] != b"AVI " or head[24:28] != b"avih":
        return None
    us_per_frame, frames = struct.unpack_from("<I", head, 32)[0], struct.unpack_from("<I", head, 48)[0]
    if not us_per_frame or not frames:
        return None
    trigger, camera = int(match.group(1)), match.group(2)
    fps = 1e6 / us_per_frame
    duration_ns = round(frames * 1e9 / fps)
    return StoredClip(clip_ref(camera, trigger), camera, path, trigger, trigger + duration_ns, frames, fps, size)
