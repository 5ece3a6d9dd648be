"""One camera's worker process seen from the gateway: spawn, read, watchdog, exit handling, restart."""

from __future__ import annotations

import logging
import signal
from collections import Counter
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess

from adapters.camera.clipstore import ClipStore
from adapters.camera.health import Backoff, Watchdog
from adapters.camera.messages import ClipDone, Preview, Status
from adapters.camera.spec import CameraSpec
from adapters.camera.status import CameraState, CameraStatus
from adapters.camera.worker import EXIT_ENDED, worker_main
from gateway.model import Detection

__all__ = ["WorkerHandle"]

log = logging.getLogger("adapters.camera")
_COUNTERS = ("frames", "analysed", "decode_errors", "detections", "clips", "clip_errors", "clip_frames_dropped")


class WorkerHandle:
    """The current worker of one camera and everything the supervisor knows about it."""

    def __init__(
        self,
        spec: CameraSpec,
        ctx: SpawnContext,
        kill_grace_s: float = 3.0,
        healthy_s: float = 30.0,
        clips: ClipStore | None = None,
    ) -> None:
        self.spec = spec
        self.clips = clips
        self.ctx = ctx
        self.kill_grace_s = kill_grace_s
        self.healthy_s = healthy_s
        self.redact = spec.redactor()
        self.backoff = Backoff(spec.restart_min_s, spec.restart_max_s)
        self.watchdog = Watchdog(spec.stall_timeout_s)
        self.state: CameraState = "starting"
        self.proc: SpawnProcess | None = None
        self.conn: Connection | None = None
        self.restarts = -1
        self.restart_at = 0.0
        self.kill_at: float | None = None
        self.status: Status | None = None
        self.totals: Counter[str] = Counter()
        self.dispatch_dropped = 0
        self.last_error = ""
        self.last_frame_at: float | None = None
        self.preview: bytes | None = None
        self.size = (0, 0)

    def spawn(self, now: float) -> None:
        """Start a new worker process with a fresh pipe."""
        receive, send = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=worker_main, args=(self.spec, send), name=f"camera-{self.spec.id}", daemon=True)
        self.restarts += 1
        self.status, self.kill_at = None, None
        self.watchdog.start(now)
        try:
            proc.start()
        except (OSError, RuntimeError) as exc:
            receive.close()
            self.last_error = self.redact(f"cannot start the worker: {exc}")
            self._schedule_restart(now)
            return
        finally:
            send.close()  # the child has its copy: EOF reaches us when it dies
        self.proc, self.conn, self.state = proc, receive, "starting"

    def receive(self, message: object, now: float) -> Detection | None:
        """Take one message from the worker; a detection is returned for dispatch."""
        if isinstance(message, Detection):
            self._progress(now)
            if message.clip is not None and self.clips is not None:
                self.clips.expect(message.clip)
            return message
        if isinstance(message, ClipDone) and self.clips is not None:
            self.clips.add(message)
        elif isinstance(message, Status):
            frames = self.status.frames if self.status is not None else 0
            self.status = message
            self.size = (message.width, message.height) if message.width else self.size
            if message.frames > frames:
                self._progress(now)
            if message.error:
                self.last_error = self.redact(message.error)
        elif isinstance(message, Preview):
            self.preview = message.jpeg
        return None

    def _progress(self, now: float) -> None:
        """New frames arrived: feed the watchdog and mark the camera running."""
        self.watchdog.progress(now)
        self.last_frame_at = now
        if self.state == "starting":
            self.state = "running"
            log.info("camera %s: running (%s)", self.spec.id, self.spec.label)

    def read(self, now: float, limit: int = 64) -> list[Detection]:
        """Read what the worker sent (up to `limit` messages); close the pipe at EOF."""
        found: list[Detection] = []
        conn = self.conn
        while conn is not None and limit > 0:
            try:
                if not conn.poll(0):
                    break
                message = conn.recv()
            except (EOFError, OSError):
                conn.close()
                self.conn = conn = None
                break
            limit -= 1
            detection = self.receive(message, now)
            if detection is not None:
                found.append(detection)
        return found

    def check(self, now: float) -> list[Detection]:
        """Handle an exited worker, fire the watchdog, escalate to SIGKILL, restart after the backoff."""
        found: list[Detection] = []
        proc = self.proc
        if proc is not None and proc.exitcode is not None:
            found = self.read(now, limit=1_000_000)
            self._exited(proc, now)
        elif proc is not None and self.kill_at is not None and now >= self.kill_at:
            proc.kill()
            self.kill_at = None
        elif proc is not None and self.state in ("starting", "running") and self.watchdog.stalled(now):
            self._stall(proc, now)
        elif proc is None and self.state == "backoff" and now >= self.restart_at:
            self.spawn(now)
        return found

    def _stall(self, proc: SpawnProcess, now: float) -> None:
        """No frame for the stall timeout: terminate the worker (SIGKILL after a grace period)."""
        self.state = "stalled"
        self.last_error = f"no frame for {self.spec.stall_timeout_s:g} s (stall watchdog)"
        log.warning("camera %s: %s; restarting its worker", self.spec.id, self.last_error)
        proc.terminate()
        self.kill_at = now + self.kill_grace_s

    def _exited(self, proc: SpawnProcess, now: float) -> None:
        """The worker process is gone: fold its counters in, then decide between ended and a restart."""
        proc.join(0)
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        final, error = (self.status.state, self.status.error) if self.status is not None else ("", "")
        self._fold()
        if self.clips is not None:
            self.clips.salvage(self.spec.id)  # a recording cut short by the exit keeps the frames it had
            self.clips.forget(self.spec.id)
        self.proc = None
        if self.state == "stopped":
            return
        if proc.exitcode == EXIT_ENDED and final == "ended":
            self.state = "ended"
            log.info("camera %s: source %s ended", self.spec.id, self.spec.label)
            return
        if self.state != "stalled":
            self.last_error = self.redact(error) or _describe_exit(proc.exitcode)
        log.warning("camera %s: worker stopped (%s)", self.spec.id, self.last_error)
        if self.watchdog.healthy_for(now) >= self.healthy_s:
            self.backoff.reset()
        self._schedule_restart(now)

    def _schedule_restart(self, now: float) -> None:
        """Wait out the backoff before the next worker."""
        self.state = "backoff"
        self.restart_at = now + self.backoff.next()

    def _fold(self) -> None:
        """Add the finished worker's counters to the totals over restarts."""
        status, self.status = self.status, None
        if status is not None:
            self.totals.update({name: getattr(status, name) for name in _COUNTERS})
            self.totals["dropped"] += sum(status.dropped.values())

    def stop(self) -> None:
        """Ask the worker to exit (SIGTERM); `check` escalates to SIGKILL after the grace period."""
        self.state = "stopped"
        if self.proc is not None and self.proc.exitcode is None:
            self.proc.terminate()

    def wait_objects(self) -> list[Connection | int]:
        """What `multiprocessing.connection.wait` should watch for this camera."""
        objects: list[Connection | int] = []
        if self.conn is not None:
            objects.append(self.conn)
        if self.proc is not None:
            objects.append(self.proc.sentinel)
        return objects

    def snapshot(self, now: float) -> CameraStatus:
        """The camera's status for the API."""
        current = self.status or Status(self.spec.id, "connecting")
        total = {name: self.totals[name] + int(getattr(current, name)) for name in _COUNTERS}
        age = None if self.last_frame_at is None else round(now - self.last_frame_at, 3)
        live = self.state in ("starting", "running")
        return CameraStatus(
            camera=self.spec.id,
            source=self.spec.label,
            state=self.state,
            pid=self.proc.pid if self.proc is not None else None,
            restarts=max(self.restarts, 0),
            fps=current.fps if live else 0.0,
            analysed_fps=current.analysed_fps if live else 0.0,
            frames=total["frames"],
            analysed=total["analysed"],
            decode_errors=total["decode_errors"],
            detections=total["detections"],
            clips=total["clips"],
            clip_errors=total["clip_errors"],
            clip_frames_dropped=total["clip_frames_dropped"],
            dropped=self.totals["dropped"] + sum(current.dropped.values()) + self.dispatch_dropped,
            width=self.size[0],
            height=self.size[1],
            last_error=self.last_error,
            last_frame_age_s=age,
            has_preview=self.preview is not None,
        )


def _describe_exit(code: int | None) -> str:
    """A worker's exit code in words."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"worker killed by {name}"
    return f"worker exited with code {code}"
