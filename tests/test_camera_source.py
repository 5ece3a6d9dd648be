"""File sources: frame times from the container's timestamps (declared rate as the fallback), and pacing by them."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import pytest

from adapters.camera.mediatime import MAX_GAP_NS, MediaTime
from adapters.camera.source import VideoSource
from adapters.camera.spec import CameraSpec
from tests.data.video import clips

MS = 1_000_000
PERIOD_50FPS = 20 * MS


class DrivenClock:
    """A monotonic clock that moves only when the source sleeps (records each sleep)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_media_time_follows_timestamps_from_the_first_frame() -> None:
    media = MediaTime()
    # The crowd clip's pattern: declared 50 fps, stamps 40 ms apart, starting at 40 ms.
    assert [media.stamp(ms, PERIOD_50FPS) for ms in (40.0, 80.0, 120.0, 160.0)] == [0, 40 * MS, 80 * MS, 120 * MS]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), 120.0])
def test_missing_or_non_increasing_stamps_count_one_declared_period(bad: float) -> None:
    media = MediaTime()
    times = [media.stamp(ms, PERIOD_50FPS) for ms in (40.0, 80.0, 160.0, bad, 240.0)]
    assert times[:3] == [0, 40 * MS, 120 * MS]
    assert times[3] == 140 * MS  # the previous frame + one declared period
    assert times[4] == 200 * MS  # a good stamp again: back on the file's clock


def test_a_file_without_stamps_runs_at_its_declared_rate() -> None:
    media = MediaTime()
    assert [media.stamp(float("nan"), PERIOD_50FPS) for _ in range(4)] == [0, 20 * MS, 40 * MS, 60 * MS]


def test_a_huge_jump_is_taken_as_broken_and_the_clock_reanchored() -> None:
    media = MediaTime()
    far = 80.0 + MAX_GAP_NS / MS + 1000
    times = [media.stamp(ms, PERIOD_50FPS) for ms in (40.0, 80.0, far, far + 40)]
    assert times == [0, 40 * MS, 60 * MS, 100 * MS]


def test_a_looped_file_goes_on_after_its_last_frame() -> None:
    media = MediaTime()
    first = [media.stamp(ms, PERIOD_50FPS) for ms in (40.0, 80.0, 120.0)]
    media.restart(PERIOD_50FPS)
    second = [media.stamp(ms, PERIOD_50FPS) for ms in (40.0, 80.0)]
    assert first == [0, 40 * MS, 80 * MS]
    assert second == [100 * MS, 140 * MS]


@pytest.fixture(scope="module")
def mislabelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 frames 100 ms apart (2 s) in an AVI that declares 20 fps (so 1 s by its header)."""
    path = tmp_path_factory.mktemp("video") / "mislabelled.avi"
    return clips.mislabelled_avi(path, clips.walkers(20, 3), fps=10, declared_fps=20)


def test_the_synthesised_clip_disagrees_with_itself(mislabelled: Path) -> None:
    cap = cv2.VideoCapture(str(mislabelled))
    declared = cap.get(cv2.CAP_PROP_FPS)
    stamps = []
    while cap.grab():
        stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
    cap.release()
    assert declared == pytest.approx(20) and len(stamps) == 20
    assert stamps[5] - stamps[4] == pytest.approx(100)  # what the frames hold: 10 fps


def play(path: Path, frames: int, loop: bool = False) -> tuple[list[int], DrivenClock]:
    """Grab `frames` frames from a paced file source on a driven clock; their times from the first."""
    clock = DrivenClock()
    spec = CameraSpec("cam", "file", str(path), loop=loop, realtime=True)
    source = VideoSource(spec, wall_ns=lambda: 1_000 * MS, monotonic=clock.monotonic, sleep=clock.sleep)
    source.open()
    try:
        times = []
        for _ in range(frames):
            ts = source.grab()
            assert ts is not None
            times.append(ts - 1_000 * MS)
    finally:
        source.close()
    return times, clock


def test_a_file_source_is_paced_by_its_timestamps_not_its_declared_rate(mislabelled: Path) -> None:
    times, clock = play(mislabelled, 18)
    assert times[:4] == [0, 100 * MS, 200 * MS, 300 * MS]
    assert clock.now - 100.0 == pytest.approx(1.7)  # 17 frame gaps of 100 ms: played at 10 fps, not 20
    assert all(s == pytest.approx(0.1) for s in clock.sleeps)


def test_a_looped_mislabelled_file_keeps_its_pace_across_passes(mislabelled: Path) -> None:
    times, clock = play(mislabelled, 45, loop=True)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap > 0 for gap in gaps)  # times only go forward across the loops
    assert sum(gap == 100 * MS for gap in gaps) >= 38  # the stamped frames; the declared rate only where none
    assert clock.now - 100.0 == pytest.approx(times[-1] / 1e9)
