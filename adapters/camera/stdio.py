"""A worker's fds 1 and 2 go through a pipe: every line (OpenCV's and FFmpeg's included) is redacted,
decoder errors are counted, and at most N lines a second reach the real stderr."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["DECODE_ERROR", "RedactingStdio"]

DECODE_ERROR: Final = re.compile(
    r"concealing \d+ DC|decode_slice_header error|no frame!|Invalid NAL unit|corrupt decoded frame"
    r"|Missing reference picture|error while decoding|Invalid data found when processing input"
)
"""FFmpeg log lines that mean a frame was damaged (one line per damaged frame, as far as FFmpeg allows)."""

_MAX_LINE: Final = 4096
"""Longer lines are cut there and the rest of the line discarded (a cut could split a secret)."""


class RedactingStdio:
    """Redirects fds 1 and 2 of this process into a pipe read by a thread that redacts and forwards lines."""

    def __init__(
        self,
        redact: Callable[[str], str],
        prefix: str,
        lines_per_s: int = 20,
        clock: Callable[[], float] = time.monotonic,
        out_fd: int | None = None,
    ) -> None:
        self._redact = redact
        self._prefix = prefix
        self._limit = lines_per_s
        self._clock = clock
        self._lock = threading.Lock()
        self.decode_errors = 0
        self.lines = 0
        self.suppressed = 0
        self._window = (0.0, 0)
        self._saved: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._out = out_fd if out_fd is not None else -1
        """Where redacted lines go: the real stderr once started (or a given fd)."""

    def start(self) -> None:
        """Point fds 1 and 2 at the pipe; the real stderr is kept for the redacted lines."""
        self._out = os.dup(2) if self._out < 0 else self._out
        self._saved = (os.dup(1), os.dup(2))
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._thread = threading.Thread(target=self._pump, args=(read_fd,), name="camera-stdio", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Flush, restore fds 1 and 2, and let the thread forward what is left."""
        if self._saved is None:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._saved = None
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(OSError):
            os.close(self._out)

    def feed_line(self, raw: bytes) -> None:
        """Handle one line of output: count, redact, rate-limit, forward."""
        text = self._redact(raw.decode("utf-8", "replace").rstrip())
        if not text:
            return
        with self._lock:
            self.lines += 1
            if DECODE_ERROR.search(text):
                self.decode_errors += 1
            allowed, note = self._admit()
        if note:
            self._write(note)
        if allowed:
            self._write(text)

    def _admit(self) -> tuple[bool, str]:
        """Whether a line fits this second's budget, and a note about lines suppressed in the last one."""
        now = self._clock()
        start, count = self._window
        note = ""
        if now - start >= 1.0:
            if self.suppressed:
                note = f"{self.suppressed} line(s) suppressed (over {self._limit}/s)"
                self.suppressed = 0
            start, count = now, 0
        self._window = (start, count + 1)
        if count >= self._limit:
            self.suppressed += 1
            return False, note
        return True, note

    def _write(self, text: str) -> None:
        """Write one already-redacted line to the real stderr."""
        with contextlib.suppress(OSError):
            os.write(self._out, f"{self._prefix} {text}\n".encode())

    def _pump(self, read_fd: int) -> None:
        """Read the pipe until every writer closed it, splitting lines and bounding their length."""
        buffer = b""
        skipping = False
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buffer += chunk.replace(b"\r", b"\n")
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not skipping:
                        self.feed_line(line)
                    skipping = False
                if len(buffer) > _MAX_LINE and not skipping:
                    self.feed_line(buffer[:_MAX_LINE] + b" [line cut]")
                    skipping = True
                if skipping:
                    buffer = b""
        if buffer and not skipping:
            self.feed_line(buffer)
