"""Which decoded frames are analysed: a steady detect rate out of whatever rate the stream delivers."""

from __future__ import annotations

__all__ = ["Sampler"]


class Sampler:
    """Takes one frame per 1/fps of stream time; never two in one period, never drifting behind."""

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"detect fps must be above 0, got {fps}")
        self.period_ns = round(1e9 / fps)
        self._due: int | None = None

    def take(self, ts_ns: int) -> bool:
        """Whether the frame at `ts_ns` should be analysed."""
        due = self._due
        if due is not None and due - self.period_ns <= ts_ns < due:
            return False
        # First frame, a frame on time, or time jumped (a file looped, a clock step): start a new period.
        late = due is not None and due <= ts_ns < due + self.period_ns
        self._due = (due + self.period_ns) if late and due is not None else ts_ns + self.period_ns
        return True
