"""A real RTSP stream (GStreamer's RTSP server, basic auth with a password containing '@', '#' and '%'):
TCP and UDP transport, a server that goes away and comes back, a frozen server (stall), and no credential
in any log, error or status even with OpenCV's and FFmpeg's debug output on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.camera import CameraSpec, CameraSupervisor
from tests.rtsp import RtspServer, encode_clip, rtsp_available
from tests.servers import wait_for
from tests.test_camera_units import ENCODED, PASSWORD, assert_clean
from tests.test_camera_worker import FAST, Collector, run, state

pytestmark = pytest.mark.skipif(bool(rtsp_available()), reason=rtsp_available() or "available")
__all__ = ["run"]  # the fixture, shared with the worker tests

USERINFO = f"admin:{ENCODED}"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_clip(tmp_path_factory.mktemp("rtsp") / "pattern.mp4")


@pytest.fixture
def server(tmp_path: Path, clip: Path) -> Iterator[RtspServer]:
    """An RTSP server of this test's own, requiring admin / p@ss#w%rd."""
    rtsp = RtspServer(tmp_path / "rtsp", clip)
    rtsp.user, rtsp.password = "admin", PASSWORD
    rtsp.start()
    yield rtsp
    rtsp.stop()


def rtsp_spec(server: RtspServer, **changes: object) -> CameraSpec:
    options: dict[str, object] = {**FAST, "detect_fps": 5, "detect_size": (320, 240), **changes}
    return CameraSpec("cam", "rtsp", server.url(USERINFO), None, **options)  # type: ignore[arg-type]


def udp_sockets(pid: int) -> int:
    """How many UDP sockets a process holds (its fds matched against /proc/net/udp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = str(fd.readlink())
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    table = Path("/proc/net/udp").read_text(encoding="ascii").splitlines()[1:]
    return sum(line.split()[9] in inodes for line in table)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rtsp_stream_over_tcp_and_udp(server: RtspServer, transport: str, run: Callable[..., CameraSupervisor]) -> None:
    supervisor = run([rtsp_spec(server, transport=transport)], Collector())
    wait_for(lambda: supervisor.status()["cam"].analysed >= 5, timeout=30, what="analysed RTSP frames")
    status = supervisor.status()["cam"]
    assert status.state == "running" and (status.width, status.height) == (320, 240)
    assert status.frames > status.analysed and status.decode_errors == 0
    assert status.source == f"rtsp://***@127.0.0.1:{server.port}/Streaming/Channels/102"
    pid = supervisor.pid("cam")
    assert pid is not None
    assert (udp_sockets(pid) > 0) == (transport == "udp")


def test_wrong_password_is_an_error_without_the_password(
    server: RtspServer, run: Callable[..., CameraSupervisor]
) -> None:
    spec = CameraSpec("cam", "rtsp", server.url("admin:wr%40ng"), None, **FAST)  # type: ignore[arg-type]
    supervisor = run([spec], Collector())
    wait_for(lambda: supervisor.status()["cam"].restarts >= 1, timeout=30, what="a failed open")
    status = supervisor.status()["cam"]
    assert status.last_error == f"cannot open rtsp source rtsp://***@127.0.0.1:{server.port}/Streaming/Channels/102"
    assert "wr%40ng" not in repr(status) and "wr@ng" not in repr(status)


def test_worker_recovers_when_the_server_comes_back(server: RtspServer, run: Callable[..., CameraSupervisor]) -> None:
    supervisor = run([rtsp_spec(server, read_timeout_s=3.0)], Collector())
    wait_for(lambda: state(supervisor) == "running", timeout=30, what="the stream")
    server.stop()
    wait_for(lambda: state(supervisor) in ("backoff", "starting"), timeout=15, what="the loss to be noticed")
    assert "lost" in supervisor.status()["cam"].last_error or "cannot open" in supervisor.status()["cam"].last_error
    server.start()  # same port
    wait_for(lambda: state(supervisor) == "running", timeout=30, what="recovery")
    before = supervisor.status()["cam"].frames
    wait_for(lambda: supervisor.status()["cam"].frames > before + 10, timeout=10, what="frames after recovery")
    assert supervisor.status()["cam"].restarts >= 1


def test_frozen_server_trips_the_stall_watchdog(server: RtspServer, run: Callable[..., CameraSupervisor]) -> None:
    spec = rtsp_spec(server, stall_timeout_s=6.0, read_timeout_s=60.0, open_timeout_s=60.0)
    supervisor = run([spec], Collector(), kill_grace_s=1.0)
    wait_for(lambda: state(supervisor) == "running", timeout=30, what="the stream")
    server.pause()
    try:
        wait_for(lambda: supervisor.status()["cam"].restarts >= 1, timeout=15, what="the watchdog's restart")
        assert supervisor.status()["cam"].last_error == "no frame for 6 s (stall watchdog)"
    finally:
        server.resume()
    wait_for(lambda: state(supervisor) == "running", timeout=30, what="recovery after the server thawed")


def test_credentials_never_reach_logs_errors_or_status(
    server: RtspServer,
    run: Callable[..., CameraSupervisor],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENCV_VIDEOIO_DEBUG", "1")  # OpenCV prints the URL it opens
    monkeypatch.setenv("OPENCV_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "48")  # FFmpeg's debug output
    caplog.set_level("DEBUG")
    good = rtsp_spec(server, stderr_lines_per_s=100_000)  # every line printed, so every line is checked
    bad = CameraSpec(
        "bad", "rtsp", server.url(f"admin:{ENCODED}x"), None, stderr_lines_per_s=100_000, **FAST  # type: ignore[arg-type]
    )
    supervisor = run([good, bad], Collector())
    wait_for(lambda: supervisor.status()["cam"].analysed >= 3, timeout=30, what="the good camera")
    wait_for(lambda: supervisor.status()["bad"].restarts >= 1, timeout=30, what="the bad camera to fail")
    statuses = repr(supervisor.status())
    supervisor.stop()
    err = capfd.readouterr().err
    assert f"rtsp://***@127.0.0.1:{server.port}" in err  # OpenCV did print the URL: masked
    assert err.count("[OPENCV:FFMPEG:") > 10  # and FFmpeg's debug output went through the same pipe
    for text in (err, caplog.text, statuses):
        assert_clean(text)
