"""Test stream servers: Debian's GStreamer RTSP server serving a file, and an HTTP MJPEG server.

The RTSP server runs under the system python3 (GStreamer's Python bindings are Debian packages:
gir1.2-gst-rtsp-server-1.0, python3-gi, gstreamer1.0-plugins-good/bad/ugly, gstreamer1.0-libav) as a
child process on a free loopback port; it can be stopped and started again on the same port, or
paused (SIGSTOP) to make a stream stall.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from tests.servers import ServerProcess

SYSTEM_PYTHON = "/usr/bin/python3"

_SERVER = r"""
import os, sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

Gst.init(None)
port, path, mount = sys.argv[1], sys.argv[2], sys.argv[3]
user, password = os.environ.get("RTSP_USER", ""), os.environ.get("RTSP_PASSWORD", "")
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( filesrc location="{path}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
)
if user:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("viewer", "media.factory.access", True)
    permissions.add_permission_for_role("viewer", "media.factory.construct", True)
    factory.set_permissions(permissions)
server.get_mount_points().add_factory(mount, factory)
server.attach(None)
GLib.MainLoop().run()
"""


def rtsp_available() -> str:
    """Why the RTSP server cannot run here, or "" when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return "no system python3"
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    result = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, check=False)
    if result.returncode != 0:
        return "GStreamer RTSP server missing: apt-get install gir1.2-gst-rtsp-server-1.0 python3-gi"
    return "" if shutil.which("ffmpeg") else "ffmpeg missing (it encodes the test clip)"


def encode_clip(path: Path, seconds: int = 120, size: str = "320x240", fps: int = 10) -> Path:
    """An H.264 MP4 of FFmpeg's moving test pattern (a keyframe every second), written once per path."""
    if not path.exists():
        command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}"]
        command += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", str(fps)]
        command += ["-pix_fmt", "yuv420p", str(path)]
        subprocess.run(command, check=True)
    return path


class RtspServer(ServerProcess):
    """A GStreamer RTSP server streaming one MP4 file at its own pace, optionally with basic auth."""

    name = "rtsp"

    def __init__(self, workdir: Path, clip: Path, mount: str = "/Streaming/Channels/102") -> None:
        super().__init__(workdir)
        self.clip = clip
        self.mount = mount
        self.user = ""
        self.password = ""

    def command(self) -> list[str]:
        return [SYSTEM_PYTHON, "-c", _SERVER, str(self.port), str(self.clip), self.mount]

    def start(self) -> None:
        """Start with the credentials in the environment (never on the command line)."""
        os.environ["RTSP_USER"], os.environ["RTSP_PASSWORD"] = self.user, self.password
        try:
            super().start()
        finally:
            del os.environ["RTSP_USER"], os.environ["RTSP_PASSWORD"]

    def url(self, userinfo: str = "") -> str:
        """The stream's URL; `userinfo` is "user:password" already percent-encoded."""
        at = f"{userinfo}@" if userinfo else ""
        return f"rtsp://{at}127.0.0.1:{self.port}{self.mount}"

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but no packet flows."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)
        super().stop(sig)


class MjpegServer:
    """An HTTP server sending a multipart/x-mixed-replace MJPEG stream of moving frames, in a thread."""

    def __init__(self, fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> None:
        self.fps = fps
        self.size = size
        self.clients = 0
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="mjpeg", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def frames(self) -> Iterator[bytes]:
        """JPEG frames of a square moving over a gradient."""
        w, h = self.size
        base = np.tile(np.linspace(40, 200, w, dtype=np.uint8), (h, 1))
        i = 0
        while True:
            img = cv2.cvtColor(base, cv2.COLOR_GRAY2BGR)
            x = (i * 7) % (w - 40)
            cv2.rectangle(img, (x, h // 3), (x + 40, h // 3 + 40), (0, 0, 255), -1)
            ok, buf = cv2.imencode(".jpg", img)
            assert ok
            yield bytes(buf.tobytes())
            i += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.clients += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for jpeg in server.frames():
                        part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                        self.wfile.write(part + jpeg + b"\r\n")
                        time.sleep(1 / server.fps)  # the stream's own pace, not a test wait
                except (BrokenPipeError, ConnectionResetError):
                    return

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
