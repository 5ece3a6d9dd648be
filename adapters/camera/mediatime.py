"""A file frame's media time: from the container's timestamps when it has them, else from the declared rate.

Some files declare a rate their frames do not have (the development crowd clip declares 50 fps and
holds 25 fps of frames): pacing by the declared rate would play them too fast or too slow.
"""

from __future__ import annotations

import math

__all__ = ["MediaTime"]

MAX_GAP_NS = 5_000_000_000
"""A timestamp further than this past the previous frame's is taken as broken: the file's clock is re-anchored
(a worker paced across such a gap would look stalled)."""


class MediaTime:
    """Times of the frames of one file in ns from its first frame, going on across loops."""

    def __init__(self) -> None:
        self._pass_start_ns = 0
        """Media time of the current pass's first frame."""
        self._first_ms: float | None = None
        """Container timestamp of the current pass's first frame (None: not seen yet, or it had none)."""
        self._last_ns: int | None = None
        self._new_pass = True

    def stamp(self, pos_ms: float, period_ns: int) -> int:
        """The time of the frame just read, whose container timestamp is `pos_ms` (declared period `period_ns`).

        A missing (not finite, negative) or non-increasing timestamp counts one declared period on; a jump
        beyond `MAX_GAP_NS` too, and the timestamps after it are counted from there.
        """
        last = self._last_ns
        if self._new_pass:
            self._new_pass = False
            self._first_ms = pos_ms if math.isfinite(pos_ms) and pos_ms >= 0 else None
            now = self._pass_start_ns
        elif self._first_ms is not None and math.isfinite(pos_ms) and pos_ms >= 0:
            now = self._pass_start_ns + round((pos_ms - self._first_ms) * 1e6)
        else:
            now = -1
        if last is not None and now > last + MAX_GAP_NS:
            self._pass_start_ns -= now - (last + period_ns)
            now = last + period_ns
        elif last is not None and now <= last:
            now = last + period_ns
        self._last_ns = now
        return now

    def restart(self, period_ns: int) -> None:
        """The file starts again (looped): its next frame comes one period after the last one."""
        self._pass_start_ns = 0 if self._last_ns is None else self._last_ns + period_ns
        self._new_pass = True
