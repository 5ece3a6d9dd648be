"""The gateway side of the cameras: one worker process per camera, supervised, detections handed over.

Threads: `camera-supervisor` waits on every worker's pipe and process, reads messages, runs the
watchdog and restarts; `camera-detections` calls `on_detection` (one thread, in arrival order) from a
bounded queue, so a slow callback never delays supervision (when that queue is full, detections are
dropped and counted per camera).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterable
from multiprocessing.connection import wait
from pathlib import Path

from adapters.camera.clipstore import ClipStore
from adapters.camera.handle import WorkerHandle
from adapters.camera.spec import CameraSpec
from adapters.camera.status import CameraStatus
from gateway.model import Detection

__all__ = ["CameraSupervisor"]

log = logging.getLogger("adapters.camera")


class CameraSupervisor:
    """Starts a worker per camera, keeps each alive (backoff, stall watchdog), and reports what they see."""

    def __init__(
        self,
        cameras: Iterable[CameraSpec],
        on_detection: Callable[[Detection], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = 0.2,
        dispatch_capacity: int = 1024,
        kill_grace_s: float = 3.0,
        healthy_s: float = 30.0,
        clips: ClipStore | None = None,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.clips = clips
        """Where the workers' pre/post clips are kept (None: no camera records clips)."""
        self.handles: dict[str, WorkerHandle] = {}
        for spec in cameras:
            if spec.id in self.handles:
                raise ValueError(f"camera id {spec.id!r} is used twice")
            if spec.clip is not None and (clips is None or Path(spec.clip.directory) != clips.directory):
                raise ValueError(f"camera {spec.id!r} records clips: pass the ClipStore of {spec.clip.directory}")
            self.handles[spec.id] = WorkerHandle(spec, ctx, kill_grace_s, healthy_s, clips)
        self.on_detection = on_detection
        self.clock = clock
        self.tick_s = tick_s
        self.callback_errors = 0
        self._lock = threading.Lock()
        self._dispatch: queue.Queue[Detection | None] = queue.Queue(maxsize=dispatch_capacity)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False

    def start(self, background: bool = True) -> None:
        """Spawn every worker and start the dispatch thread and (unless the caller drives `poll`) supervision."""
        if self._started:
            raise RuntimeError("the camera supervisor is already started")
        self._started = True
        if self.clips is not None:
            self.clips.open()
        now = self.clock()
        with self._lock:
            for handle in self.handles.values():
                handle.spawn(now)
        self._threads = [threading.Thread(target=self._deliver, name="camera-detections", daemon=True)]
        if background:
            self._threads.append(threading.Thread(target=self._supervise, name="camera-supervisor", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every worker (SIGTERM, then SIGKILL), deliver what was read, and end the threads."""
        self._stopping.set()
        for thread in self._threads[1:]:
            thread.join(timeout + 1.0)
        self._finish_workers(timeout)
        try:
            self._dispatch.put(None, timeout=timeout)
        except queue.Full:
            log.warning("camera supervisor: on_detection is stuck; %d detections not delivered", self._dispatch.qsize())
        if self._threads:
            self._threads[0].join(timeout)
        self._threads = []

    def status(self) -> dict[str, CameraStatus]:
        """Every camera's state, rates and counters (credentials masked), by camera id."""
        now = self.clock()
        with self._lock:
            return {cid: handle.snapshot(now) for cid, handle in self.handles.items()}

    def latest_frame(self, camera: str) -> bytes | None:
        """The latest analysed frame of a camera with zones, masks and recent boxes drawn (JPEG), if any."""
        with self._lock:
            handle = self.handles.get(camera)
            return handle.preview if handle is not None else None

    def pid(self, camera: str) -> int | None:
        """The process id of a camera's current worker (for tests and diagnostics)."""
        with self._lock:
            proc = self.handles[camera].proc
            return proc.pid if proc is not None else None

    def poll(self, timeout: float) -> None:
        """One round: wait for worker output or exits (up to `timeout`), read it, then supervise."""
        with self._lock:
            objects = [obj for handle in self.handles.values() for obj in handle.wait_objects()]
        if objects:
            wait(objects, timeout)
        elif timeout > 0:
            self._stopping.wait(timeout)
        now = self.clock()
        with self._lock:
            found = [d for handle in self.handles.values() for d in handle.read(now)]
            found += [d for handle in self.handles.values() for d in handle.check(now)]
        for detection in found:
            self._hand_over(detection)

    def _supervise(self) -> None:
        """The supervision thread: poll until stopped."""
        while not self._stopping.is_set():
            try:
                self.poll(self.tick_s)
            except Exception:
                log.exception("camera supervisor: unexpected error; continuing")
                self._stopping.wait(self.tick_s)

    def _hand_over(self, detection: Detection) -> None:
        """Queue a detection for `on_detection`; count it as dropped when the queue is full."""
        try:
            self._dispatch.put_nowait(detection)
        except queue.Full:
            handle = self.handles.get(detection.camera)
            if handle is not None:
                handle.dispatch_dropped += 1

    def _deliver(self) -> None:
        """The dispatch thread: call `on_detection` for each detection, in order, until stopped."""
        while (detection := self._dispatch.get()) is not None:
            try:
                self.on_detection(detection)
            except Exception:
                self.callback_errors += 1
                log.exception("camera %s: on_detection failed", detection.camera)

    def _finish_workers(self, timeout: float) -> None:
        """Terminate every worker, wait for them, kill stragglers, and read their last messages."""
        with self._lock:
            for handle in self.handles.values():
                handle.stop()
        deadline = time.monotonic() + timeout
        for handle in self.handles.values():
            proc = handle.proc
            if proc is None:
                continue
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.exitcode is None:
                proc.kill()
                proc.join(2.0)
        now = self.clock()
        with self._lock:
            found = [d for handle in self.handles.values() for d in handle.check(now)]
        for detection in found:
            self._hand_over(detection)
