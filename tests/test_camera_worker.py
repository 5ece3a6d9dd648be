"""Camera workers as real processes: file and MJPEG sources, detections with snapshots, previews, restarts
after a crash or a failing source, the stall watchdog (driven clock), and redaction of crash reports."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from adapters.camera import CameraSpec, CameraSupervisor
from detectors import DetectorSet, Scene, parse_settings
from gateway.model import Detection, GridCell
from tests.data.video import clips
from tests.rtsp import MjpegServer
from tests.servers import free_port, wait_for
from tests.test_camera_units import ENCODED, PASSWORD, assert_clean

GRID = GridCell("110101001001001")
FAST = {"restart_min_s": 0.1, "restart_max_s": 0.4, "status_interval_s": 0.2, "preview_interval_s": 0.2}


@pytest.fixture(scope="module")
def flame_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 frames (6 s at 10 fps) of a flickering flame, H.264."""
    path = tmp_path_factory.mktemp("video") / "flame.mp4"
    return clips.write_clip(path, clips.flame(60), fps=10, h264=True)


def flame_processor(camera: str) -> functools.partial[DetectorSet]:
    scene = Scene(camera, 320, 240, GRID)
    return functools.partial(DetectorSet, scene, (parse_settings({"type": "flame"}),))


class Collector:
    """on_detection: records detections and the threads that delivered them."""

    def __init__(self) -> None:
        self.items: list[Detection] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, detection: Detection) -> None:
        with self.lock:
            self.items.append(detection)
            self.threads.add(threading.current_thread().name)


@pytest.fixture
def run() -> Iterator[Callable[..., CameraSupervisor]]:
    """Start supervisors that are stopped at the end of the test."""
    started: list[CameraSupervisor] = []

    def start(specs: list[CameraSpec], on_detection: Callable[[Detection], None], **kwargs: object) -> CameraSupervisor:
        background = bool(kwargs.pop("background", True))
        supervisor = CameraSupervisor(specs, on_detection, **kwargs)  # type: ignore[arg-type]
        supervisor.start(background=background)
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        supervisor.stop()


def state(supervisor: CameraSupervisor, camera: str = "cam") -> str:
    return supervisor.status()[camera].state


def test_file_camera_detects_flame_through_a_worker(flame_clip: Path, run: Callable[..., CameraSupervisor]) -> None:
    spec = CameraSpec(
        "cam", "file", str(flame_clip), flame_processor("cam"), loop=False, realtime=False,
        detect_fps=5, detect_size=(320, 240), **FAST,  # type: ignore[arg-type]
    )
    got = Collector()
    supervisor = run([spec], got)
    wait_for(lambda: state(supervisor) == "ended", timeout=30, what="the clip to end")
    status = supervisor.status()["cam"]
    assert (status.frames, status.analysed, status.restarts, status.decode_errors) == (60, 30, 0, 0)
    assert (status.width, status.height, status.last_error) == (320, 240, "")
    wait_for(lambda: len(got.items) == status.detections, what="delivery")
    assert status.detections >= 2 and got.threads == {"camera-detections"}
    first = got.items[0]
    assert (first.camera, first.detector, first.zone, first.grid) == ("cam", "flame", "frame", GRID)
    assert first.snapshot is not None and first.snapshot[:2] == b"\xff\xd8"
    assert first.ts_ns < got.items[-1].ts_ns
    preview = supervisor.latest_frame("cam")
    assert preview is not None and preview[:2] == b"\xff\xd8" and status.has_preview


def test_snapshots_are_kept_under_the_byte_budget(flame_clip: Path, run: Callable[..., CameraSupervisor]) -> None:
    spec = CameraSpec(
        "cam", "file", str(flame_clip), flame_processor("cam"), loop=False, realtime=False,
        detect_fps=5, detect_size=(640, 480), snapshot_max_bytes=4000, **FAST,  # type: ignore[arg-type]
    )
    got = Collector()
    supervisor = run([spec], got)
    wait_for(lambda: state(supervisor) == "ended", timeout=30, what="the clip to end")
    wait_for(lambda: len(got.items) == supervisor.status()["cam"].detections > 0, what="delivery")
    assert all(d.snapshot is None or len(d.snapshot) <= 4000 for d in got.items)
    assert any(d.snapshot is not None for d in got.items)


def test_looped_file_plays_on_at_its_own_pace(tmp_path: Path, run: Callable[..., CameraSupervisor]) -> None:
    clip = clips.write_clip(tmp_path / "short.avi", clips.walkers(10, 3), fps=10)  # 1 s, MJPG
    spec = CameraSpec("cam", "file", str(clip), None, detect_size=None, **FAST)  # type: ignore[arg-type]
    supervisor = run([spec], Collector())
    wait_for(lambda: supervisor.status()["cam"].frames >= 1, timeout=20, what="the first frame")
    start = time.monotonic()
    wait_for(lambda: supervisor.status()["cam"].frames >= 25, timeout=20, what="three passes of the clip")
    assert time.monotonic() - start >= 1.5  # paced at the file's 10 fps, not as fast as it decodes (~ms)
    status = supervisor.status()["cam"]
    assert status.state == "running" and status.restarts == 0


def test_mjpeg_over_http(run: Callable[..., CameraSupervisor]) -> None:
    server = MjpegServer(fps=10)
    server.start()
    try:
        spec = CameraSpec("cam", "http", server.url, None, detect_fps=2, **FAST)  # type: ignore[arg-type]
        supervisor = run([spec], Collector())
        wait_for(lambda: supervisor.status()["cam"].analysed >= 3, timeout=20, what="MJPEG frames")
        status = supervisor.status()["cam"]
        assert status.state == "running" and (status.width, status.height) == (320, 240)
        assert status.frames > status.analysed  # every frame decoded, only sampled ones analysed
        assert supervisor.latest_frame("cam") is not None
    finally:
        server.stop()


def test_unreachable_source_backs_off_and_keeps_trying(run: Callable[..., CameraSupervisor]) -> None:
    url = f"http://admin:{ENCODED}@127.0.0.1:{free_port()}/video.mjpg"
    spec = CameraSpec("cam", "http", url, None, open_timeout_s=2, **FAST)  # type: ignore[arg-type]
    supervisor = run([spec], Collector())
    wait_for(lambda: supervisor.status()["cam"].restarts >= 2, timeout=30, what="restarts")
    status = supervisor.status()["cam"]
    assert status.state in ("starting", "backoff") and status.frames == 0
    assert status.last_error.startswith("cannot open http source http://***@127.0.0.1:")
    assert_clean(repr(supervisor.status()))


def test_killed_worker_is_restarted(flame_clip: Path, run: Callable[..., CameraSupervisor]) -> None:
    spec = CameraSpec("cam", "file", str(flame_clip), flame_processor("cam"), **FAST)  # type: ignore[arg-type]
    supervisor = run([spec], Collector())
    wait_for(lambda: state(supervisor) == "running", timeout=20, what="the first worker")
    pid = supervisor.pid("cam")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: supervisor.status()["cam"].restarts == 1, timeout=10, what="a restart")
    wait_for(lambda: state(supervisor) == "running", timeout=20, what="the new worker")
    assert supervisor.pid("cam") not in (None, pid)
    assert supervisor.status()["cam"].last_error == "worker killed by SIGKILL"


@dataclass(frozen=True)
class Exploding:
    """A processor factory whose processor fails with the stream's URL in its message."""

    url: str

    def __call__(self) -> Exploding:
        return self

    def process(self, frame_bgr: np.ndarray, ts_ns: int) -> list[Detection]:
        raise RuntimeError(f"cannot analyse {self.url} (password {PASSWORD})")


def test_crash_report_is_redacted_and_the_worker_restarted(
    run: Callable[..., CameraSupervisor], capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    server = MjpegServer(fps=10)
    server.start()
    try:
        url = server.url.replace("http://", f"http://admin:{ENCODED}@")
        spec = CameraSpec("cam", "http", url, Exploding(url), **FAST)  # type: ignore[arg-type]
        supervisor = run([spec], Collector())
        wait_for(lambda: supervisor.status()["cam"].restarts >= 1, timeout=30, what="a restart after the crash")
        status = supervisor.status()["cam"]
        assert status.last_error.startswith("worker crashed: RuntimeError: cannot analyse http://***@127.0.0.1")
        assert status.source.startswith("http://***@127.0.0.1")
        supervisor.stop()
    finally:
        server.stop()
    err = capfd.readouterr().err
    assert "Traceback" in err and "[camera cam]" in err  # the worker's traceback went through the redacting pipe
    for text in (err, caplog.text, repr(status)):
        assert_clean(text)


def test_stall_watchdog_kills_a_frozen_worker(flame_clip: Path, run: Callable[..., CameraSupervisor]) -> None:
    now = [0.0]
    spec = CameraSpec("cam", "file", str(flame_clip), None, stall_timeout_s=10, **FAST)  # type: ignore[arg-type]
    supervisor = run([spec], Collector(), clock=lambda: now[0], kill_grace_s=3.0, background=False)

    def poll_until(condition: Callable[[], bool]) -> bool:
        supervisor.poll(0.05)
        return condition()

    wait_for(lambda: poll_until(lambda: state(supervisor) == "running"), timeout=20, what="frames")
    pid = supervisor.pid("cam")
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # frozen as if stuck in a decoder: no frame, no status, still alive
    try:
        supervisor.poll(0.3)  # read what it sent before freezing
        now[0] = 9.0
        supervisor.poll(0)
        assert state(supervisor) == "running"
        now[0] = 10.5
        supervisor.poll(0)
        assert state(supervisor) == "stalled"  # SIGTERM sent; a stopped process cannot act on it
        assert supervisor.status()["cam"].last_error == "no frame for 10 s (stall watchdog)"
        now[0] = 14.0
        wait_for(lambda: poll_until(lambda: state(supervisor) == "backoff"), timeout=10, what="SIGKILL and exit")
    finally:
        if supervisor.pid("cam") == pid:
            os.kill(pid, signal.SIGCONT)
    now[0] = 15.0
    wait_for(lambda: poll_until(lambda: state(supervisor) == "running"), timeout=20, what="the new worker")
    status = supervisor.status()["cam"]
    assert status.restarts == 1 and supervisor.pid("cam") != pid


def test_spec_is_replaceable_and_supervisor_rejects_duplicates(flame_clip: Path) -> None:
    spec = CameraSpec("cam", "file", str(flame_clip))
    with pytest.raises(ValueError, match="used twice"):
        CameraSupervisor([spec, replace(spec, loop=False)], Collector())
