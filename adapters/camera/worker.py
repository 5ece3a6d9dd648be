"""The camera worker process: open the source, decode every frame, analyse sampled ones, report back.

Runs in its own process (spawn), so a slow or crashing camera never stalls the gateway or other cameras.
OpenCV is imported only after stdout/stderr are redirected and the FFmpeg environment is set.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Final

from adapters.camera.clipspool import SPOOL_SUFFIX, ClipSpool, played_fps
from adapters.camera.messages import ClipDone, Preview, Status, WorkerState
from adapters.camera.outbox import Outbox
from adapters.camera.ring import ClipRecorder, Recording
from adapters.camera.sampler import Sampler
from adapters.camera.spec import CameraSpec, FrameProcessor
from adapters.camera.stdio import RedactingStdio
from gateway.model import Box, Detection

if TYPE_CHECKING:
    from adapters.camera.source import Image, VideoSource

__all__ = ["EXIT_CRASHED", "EXIT_ENDED", "EXIT_FAILED", "EXIT_ORPHANED", "CameraLoop", "worker_main"]

EXIT_ENDED: Final = 0
EXIT_CRASHED: Final = 1
EXIT_FAILED: Final = 3
EXIT_ORPHANED: Final = 4
_BOX_HOLD_NS: Final = 2_000_000_000
"""How long a detection's boxes stay drawn on the preview."""
FFMPEG_LOGLEVEL: Final = "16"
"""AV_LOG_ERROR: FFmpeg reports decoder errors (counted) and little else; the environment may raise it."""


def worker_main(spec: CameraSpec, conn: Connection) -> None:
    """Process entry point: run one camera until its source ends or fails; exit with a code saying which."""
    redact = spec.redactor()
    stdio = RedactingStdio(redact, f"[camera {spec.id}]", spec.stderr_lines_per_s)
    stdio.start()
    _set_environment(spec)
    outbox = Outbox(conn.send, spec.outbox_capacity, name=f"camera-{spec.id}-outbox")
    loop = CameraLoop(spec, outbox, stdio, redact)
    code = EXIT_CRASHED
    try:
        code = loop.run()
    except Exception as exc:
        traceback.print_exc()  # goes through the redacting pipe
        loop.report("failed", redact(f"worker crashed: {type(exc).__name__}: {exc}"))
    finally:
        outbox.close(timeout=2.0)
        stdio.stop()
        conn.close()
    sys.exit(code)


def _set_environment(spec: CameraSpec) -> None:
    """FFmpeg capture options (RTSP transport…) and log level, read by OpenCV when it opens the source."""
    options = spec.capture_options()
    if options:
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = options
    else:
        os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_LOGLEVEL)


class CameraLoop:
    """Grab every frame, analyse those the sampler takes, send detections, previews and status."""

    def __init__(
        self,
        spec: CameraSpec,
        outbox: Outbox,
        stdio: RedactingStdio | None,
        redact: Callable[[str], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.outbox = outbox
        self.stdio = stdio
        self.redact = redact
        self.clock = clock
        self.sampler = Sampler(spec.detect_fps)
        self.frames = self.analysed = self.errors = self.detections = self.shrunk = 0
        self.size = (0, 0)
        self._ppid = os.getppid()
        self._last_status = (clock(), 0, 0)
        self._last_preview = float("-inf")
        self._boxes: deque[tuple[int, list[Box]]] = deque(maxlen=32)
        self.clips = self.clip_errors = 0
        self.recorder: ClipRecorder | None = None
        if spec.clip is not None:
            clip = spec.clip
            fps = clip.fps or spec.detect_fps
            self.recorder = ClipRecorder(spec.id, clip.pre_s, clip.post_s, fps, clip.cooldown_s, clip.max_bytes)
        self._clip_size = (0, 0)
        self._spool: ClipSpool | None = None

    def run(self) -> int:
        """Open the source and loop over its frames; the exit code says why it stopped."""
        import cv2

        from adapters.camera.source import SourceError, VideoSource

        cv2.setNumThreads(self.spec.opencv_threads)
        self.report("connecting")
        processor = self.spec.processor() if self.spec.processor is not None else None
        source = VideoSource(self.spec)
        try:
            source.open()
            self.size = source.size
            self.report("running")
            return self._frames(source, processor)
        except SourceError as exc:
            self._finish_clip()
            self.report("failed", self.redact(str(exc)))
            return EXIT_FAILED
        finally:
            source.close()

    def _frames(self, source: VideoSource, processor: FrameProcessor | None) -> int:
        """The frame loop proper."""
        while True:
            ts_ns = source.grab()
            if ts_ns is None:
                self._finish_clip()
                self.report("ended")
                return EXIT_ENDED
            self.frames += 1
            analyse = self.sampler.take(ts_ns)
            keep = self.recorder is not None and self.recorder.wants(ts_ns)
            if analyse or keep:
                self._sampled(source, processor, ts_ns, analyse, keep)
            if self.clock() - self._last_status[0] >= self.spec.status_interval_s:
                if os.getppid() != self._ppid or self.outbox.broken is not None:
                    return EXIT_ORPHANED
                self.report("running")

    def _sampled(
        self, source: VideoSource, processor: FrameProcessor | None, ts_ns: int, analyse: bool, keep: bool
    ) -> None:
        """Retrieve one sampled frame at the detect size; buffer it for clips and/or analyse it."""
        from adapters.camera.source import fit

        image = source.retrieve()
        if image is None:
            self.errors += 1
            return
        image = fit(image, self.spec.detect_size)
        if keep:
            self._buffer(image, ts_ns)
        if analyse:
            self._analyse(image, processor, ts_ns)

    def _analyse(self, image: Image, processor: FrameProcessor | None, ts_ns: int) -> None:
        """Run the detectors on one frame, send what they find, and now and then a preview."""
        self.analysed += 1
        found: list[Detection] = []
        if processor is not None:
            try:
                found = processor.process(image, ts_ns)
            except ValueError:
                self.errors += 1
                return
        for detection in found:
            self._send_detection(detection)
        self._preview(image, ts_ns)

    def _buffer(self, image: Image, ts_ns: int) -> None:
        """Put the frame into the clip ring (as JPEG); write the clip whose window it completes."""
        from adapters.camera.jpeg import encode_jpeg

        assert self.recorder is not None and self.spec.clip is not None
        self._clip_size = (image.shape[1], image.shape[0])
        jpeg = encode_jpeg(image, self.spec.clip.quality)
        done = self.recorder.add(ts_ns, jpeg)
        if self._spool is not None and ts_ns < self._spool.end_ns:
            self._spool_write(ts_ns, jpeg)
        if done is not None:
            self._write_clip(done)

    def _start_spool(self, rec: Recording) -> None:
        """A recording started: spool its frames so far, and the rest as they come (see clipspool.py)."""
        assert self.recorder is not None and self.spec.clip is not None
        path = Path(self.spec.clip.directory) / f"{rec.trigger_ns}_{self.spec.id}.avi{SPOOL_SUFFIX}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._spool = ClipSpool(path, rec, self.spec.id, self.recorder.fps, self._clip_size)
        except OSError as exc:  # the clip is still written from memory at its end
            print(self.redact(f"clip spool {path.name} not started: {exc}"), file=sys.stderr)
            return
        for ts, jpeg in self.recorder.frames(rec):
            self._spool_write(ts, jpeg)

    def _spool_write(self, ts_ns: int, jpeg: bytes) -> None:
        """Append a frame to the spool; on a write error give the spool up (memory still has the frames)."""
        assert self._spool is not None
        try:
            self._spool.add(ts_ns, jpeg)
        except OSError as exc:
            print(self.redact(f"clip spool {self._spool.path.name} given up: {exc}"), file=sys.stderr)
            self._end_spool()

    def _end_spool(self) -> None:
        """Delete the spool: its clip was written (or failed and was reported)."""
        if self._spool is not None:
            self._spool.discard()
            self._spool = None

    def _finish_clip(self) -> None:
        """The source ended or was lost: write the clip being recorded with the frames it has."""
        done = self.recorder.finish() if self.recorder is not None else None
        if done is not None:
            self._write_clip(done)

    def _write_clip(self, rec: Recording) -> None:
        """Write a recording's buffered frames as MJPEG AVI into the clip directory and tell the gateway."""
        from adapters.camera.avi import write_mjpeg_avi

        assert self.recorder is not None and self.spec.clip is not None
        frames = self.recorder.frames(rec)
        fps = played_fps(frames, self.recorder.fps)
        name = f"{rec.trigger_ns}_{self.spec.id}.avi"
        directory = Path(self.spec.clip.directory)
        size, error = 0, ""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            size = write_mjpeg_avi(directory / name, [jpeg for _, jpeg in frames], fps, self._clip_size)
        except (OSError, ValueError) as exc:
            self.clip_errors += 1
            error = self.redact(f"clip {name} not written: {exc}")
            print(error, file=sys.stderr)
        if not error:
            self.clips += 1
        start_ns = frames[0][0] if frames else rec.start_ns
        end_ns = min(rec.end_ns, frames[-1][0] + round(1e9 / fps)) if frames else rec.end_ns
        done = ClipDone(self.spec.id, rec.ref, name, start_ns, end_ns, len(frames), fps, size, error)
        self._end_spool()
        self.outbox.offer(done, "clip", droppable=False, timeout=self.spec.detection_put_timeout_s)

    def _send_detection(self, detection: Detection) -> None:
        """Bound the snapshot's size and queue the detection (waiting a little when the outbox is full)."""
        from adapters.camera.jpeg import bound_jpeg

        if detection.snapshot is not None and len(detection.snapshot) > self.spec.snapshot_max_bytes:
            detection.snapshot = bound_jpeg(detection.snapshot, self.spec.snapshot_max_bytes)
            self.shrunk += 1
        if self.recorder is not None:
            under_way = self.recorder.recording
            detection.clip = self.recorder.on_detection(detection.detector, detection.zone, detection.ts_ns)
            if self.recorder.recording is not None and self.recorder.recording is not under_way:
                self._start_spool(self.recorder.recording)
        self.detections += 1
        self._boxes.append((detection.ts_ns, detection.boxes))
        self.outbox.offer(detection, "detection", droppable=False, timeout=self.spec.detection_put_timeout_s)

    def _preview(self, image: Image, ts_ns: int) -> None:
        """Now and then, send the analysed frame with zones, masks and recent boxes drawn."""
        from adapters.camera.jpeg import bound_jpeg, render_preview

        now = self.clock()
        if now - self._last_preview < self.spec.preview_interval_s:
            return
        self._last_preview = now
        boxes = [box for ts, found in self._boxes if ts_ns - ts <= _BOX_HOLD_NS for box in found]
        jpeg = bound_jpeg(render_preview(image, self.spec.zones, self.spec.masks, boxes), self.spec.snapshot_max_bytes)
        if jpeg is not None:
            self.outbox.offer(Preview(self.spec.id, ts_ns, jpeg), "preview", droppable=True)

    def report(self, state: WorkerState, error: str = "") -> None:
        """Queue a status message (dropped first when the outbox is full; a final one waits a little)."""
        now = self.clock()
        last, frames, analysed = self._last_status
        elapsed = max(now - last, 1e-6)
        decode_errors = self.errors + (self.stdio.decode_errors if self.stdio is not None else 0)
        status = Status(
            camera=self.spec.id,
            state=state,
            frames=self.frames,
            analysed=self.analysed,
            decode_errors=decode_errors,
            detections=self.detections,
            fps=round((self.frames - frames) / elapsed, 2),
            analysed_fps=round((self.analysed - analysed) / elapsed, 2),
            width=self.size[0],
            height=self.size[1],
            dropped=dict(self.outbox.dropped),
            snapshots_shrunk=self.shrunk,
            clips=self.clips,
            clip_errors=self.clip_errors,
            clip_frames_dropped=self.recorder.ring.dropped if self.recorder is not None else 0,
            error=error,
            ts_ns=time.time_ns(),
        )
        self._last_status = (now, self.frames, self.analysed)
        final = state in ("ended", "failed")
        self.outbox.offer(status, "status", droppable=not final, timeout=1.0 if final else 0.0)
