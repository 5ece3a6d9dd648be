"""Camera input, pure parts: credential redaction, frame sampling, the outbox's full policy, supervision policy,
and the redacting stdio pump."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from adapters.camera.health import Backoff, Watchdog
from adapters.camera.outbox import Outbox
from adapters.camera.redact import Redactor, redact_url
from adapters.camera.sampler import Sampler
from adapters.camera.source import fit
from adapters.camera.spec import CameraSpec
from adapters.camera.stdio import RedactingStdio
from tests.servers import wait_for

PASSWORD = "p@ss#w%rd"
ENCODED = "p%40ss%23w%25rd"
URL = f"rtsp://admin:{ENCODED}@192.0.2.10:554/Streaming/Channels/102"
LEAKS = (PASSWORD, ENCODED, "p%40ss", "ss#w", "w%rd", "%25rd")


def assert_clean(text: str) -> None:
    """No spelling (or recognisable part) of the test password appears."""
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked in {text!r}"


def test_redact_url_masks_userinfo_and_credential_query() -> None:
    assert redact_url(URL) == "rtsp://***@192.0.2.10:554/Streaming/Channels/102"
    dahua = "rtsp://192.0.2.11/cam/realmonitor?channel=1&subtype=1&user=admin&password=" + ENCODED
    assert redact_url(dahua) == "rtsp://192.0.2.11/cam/realmonitor?channel=1&subtype=1&user=***&password=***"
    assert redact_url("rtsp://192.0.2.10/live") == "rtsp://192.0.2.10/live"
    assert_clean(redact_url("rtsp://admin:p@ss#w%rd@192.0.2.10/x"))  # not even percent-encoded


@pytest.mark.parametrize(
    "text",
    [
        f"[ WARN:0@0.011] global cap.cpp:138 open VIDEOIO(FFMPEG): trying capture filename='{URL}' ...",
        f"auth failed for admin with password {PASSWORD} on host",
        f"decoded {PASSWORD}, encoded {ENCODED}, both in one line",
        "tcp://admin:p%40ss%23w%25rd@192.0.2.10:554?timeout=0 failed: Connection refused",
        "password=p%40ss%23w%25rd&x=1",
    ],
)
def test_redactor_masks_every_spelling(text: str) -> None:
    redacted = Redactor(urls=[URL])(text)
    assert_clean(redacted)
    assert "***" in redacted


def test_redactor_from_plain_secrets_and_spec_label() -> None:
    assert Redactor(secrets=[PASSWORD])(f"x {PASSWORD} y {ENCODED}") == "x *** y ***"
    spec = CameraSpec("cam", "rtsp", URL)
    assert spec.label == "rtsp://***@192.0.2.10:554/Streaming/Channels/102"
    assert_clean(repr(spec))
    assert spec.capture_options() == "rtsp_transport;tcp"
    udp = CameraSpec("cam", "rtsp", URL, transport="udp", ffmpeg_options=(("analyzeduration", "1000000"),))
    assert udp.capture_options() == "analyzeduration;1000000|rtsp_transport;udp"
    assert CameraSpec("cam", "file", "/clips/a.mp4").capture_options() == ""


def test_sampler_takes_the_detect_rate_out_of_25_fps() -> None:
    sampler = Sampler(5.0)
    taken = [i for i in range(250) if sampler.take(i * 40_000_000)]  # 10 s at 25 fps
    assert len(taken) == 50
    assert taken[:3] == [0, 5, 10]


def test_sampler_jitter_loop_and_slow_streams() -> None:
    sampler = Sampler(5.0)
    jittery = [0, 39, 81, 118, 161, 199, 241, 280, 322, 359, 401]  # ms, around 25 fps
    assert [t for t in jittery if sampler.take(t * 1_000_000)] == [0, 241, 401]
    assert sampler.take(0)  # a looped file starts again: a new period, not a 2-minute wait
    slow = Sampler(5.0)
    assert all(slow.take(i * 500_000_000) for i in range(10))  # a 2 fps stream: every frame analysed
    with pytest.raises(ValueError, match="above 0"):
        Sampler(0)


class Gate:
    """A `send` that blocks until released, recording what it sent."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.sent: list[object] = []
        self.entered = threading.Event()

    def __call__(self, message: object) -> None:
        self.entered.set()
        self.open.wait(10)
        self.sent.append(message)


def test_outbox_drops_status_first_and_never_blocks_forever() -> None:
    gate = Gate()
    box = Outbox(gate, capacity=3)
    assert box.offer("s0", "status", droppable=True)
    gate.entered.wait(5)  # s0 is inside send(), blocked; the box itself is empty
    assert box.offer("s1", "status", droppable=True)
    assert box.offer("d1", "detection", droppable=False)
    assert box.offer("s2", "status", droppable=True)
    assert not box.offer("s3", "status", droppable=True)  # full: status dropped
    assert box.offer("d2", "detection", droppable=False, timeout=0.01)  # evicts s1
    assert box.offer("d3", "detection", droppable=False, timeout=0.01)  # evicts s2
    assert not box.offer("d4", "detection", droppable=False, timeout=0.05)  # nothing to evict: waits, then drops
    assert box.dropped == {"status": 3, "detection": 1}
    gate.open.set()
    assert box.close(timeout=5)
    assert gate.sent == ["s0", "d1", "d2", "d3"]
    assert not box.offer("late", "status", droppable=True)


def test_outbox_counts_a_broken_pipe() -> None:
    def broken(message: object) -> None:
        raise BrokenPipeError("gateway gone")

    box = Outbox(broken, capacity=2)
    box.offer("d", "detection", droppable=False)
    wait_for(lambda: box.broken is not None, what="the send failure")
    assert not box.offer("s", "status", droppable=True)
    assert box.dropped == {"detection": 1, "status": 1}
    box.close(0.1)
    with pytest.raises(ValueError, match="at least 1"):
        Outbox(broken, capacity=0)


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    backoff = Backoff(0.5, 4.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_watchdog_counts_from_start_and_from_each_frame() -> None:
    dog = Watchdog(stall_s=10.0)
    dog.start(100.0)
    assert not dog.stalled(110.0) and dog.stalled(110.5)  # opening counts against the timeout
    dog.progress(105.0)
    assert not dog.stalled(115.0) and dog.stalled(115.1)
    assert dog.healthy_for(135.0) == 30.0
    dog.start(200.0)
    assert dog.healthy_for(250.0) == 0.0


def read_all(fd: int) -> str:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 20).decode()
    except BlockingIOError:
        return ""


def test_stdio_redacts_counts_decode_errors_and_rate_limits() -> None:
    now = [0.0]
    read_fd, write_fd = os.pipe()
    stdio = RedactingStdio(Redactor(urls=[URL]), "[camera c1]", lines_per_s=3, clock=lambda: now[0], out_fd=write_fd)
    stdio.feed_line(f"open filename='{URL}'".encode())
    stdio.feed_line(b"[h264 @ 0x55] concealing 120 DC, 120 AC, 120 MV errors in P frame")
    stdio.feed_line(b"[h264 @ 0x55] error while decoding MB 3 4")
    stdio.feed_line(b"dropped by the limit " + PASSWORD.encode())
    now[0] = 1.5
    stdio.feed_line(b"\xff\xfe not utf-8 " + ENCODED.encode())
    out = read_all(read_fd)
    os.close(read_fd)
    os.close(write_fd)
    assert_clean(out)
    lines = out.splitlines()
    assert lines[0] == "[camera c1] open filename='rtsp://***@192.0.2.10:554/Streaming/Channels/102'"
    assert lines[3] == "[camera c1] 1 line(s) suppressed (over 3/s)"
    assert lines[4].endswith("not utf-8 ***")
    assert stdio.decode_errors == 2 and stdio.lines == 5


def test_redactor_with_an_unencoded_password_in_the_url() -> None:
    raw = "rtsp://admin:p@ss#w%rd@192.0.2.10/x"
    assert_clean(Redactor(urls=[raw])(f"error for {PASSWORD} at {raw}"))


@pytest.mark.parametrize(
    ("shape", "size"),
    [((1080, 1920, 3), (640, 360)), ((720, 1280, 3), (640, 360)), ((240, 320, 3), (640, 480)), ((361, 641, 3), None)],
)
def test_fit_resizes_to_the_detect_size(shape: tuple[int, int, int], size: tuple[int, int] | None) -> None:
    image = np.full(shape, 77, np.uint8)
    out = fit(image, size)
    assert out.shape == ((size[1], size[0], 3) if size else shape) and out.dtype == np.uint8
    assert int(out[5, 5, 0]) == 77  # a flat image stays flat through halving and the final resize
