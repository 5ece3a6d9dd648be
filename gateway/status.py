"""What the status API and page show of a running gateway: incidents, device health, cameras, readiness.

`Status(gateway)` attaches itself: an intake observer notes when each device was last heard, a
RuleRunner emitter mirrors incident events into the board (and onto the live stream), and the rest is
read from the gateway's parts when asked. A watcher task (started with the API) publishes device health
and camera state changes to the live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.journal import Txn
from gateway.model import Incident, IncidentEvent
from gateway.status_devices import DeviceHealth
from gateway.status_grid import grid_json
from gateway.status_hub import EventHub
from gateway.status_incidents import SNAPSHOT_PREFIX, IncidentBoard, IncidentFilter, incident_json
from rules import EventTypeTable, RuleFileError, explain, load_event_types

if TYPE_CHECKING:
    from adapters.camera import ClipStore, StoredClip
    from adapters.camera.status import CameraStatus
    from gateway.app import Gateway

__all__ = ["CameraSource", "Status"]

log = logging.getLogger("gridedge.status")

WATCH_EVERY = 1.0
"""Seconds between looks for device health and camera state changes."""
CAMERA_DOWN = frozenset({"backoff", "stalled"})


class CameraSource(Protocol):
    """What the status needs of the camera supervisor (adapters.camera.CameraSupervisor)."""

    def status(self) -> Mapping[str, CameraStatus]:
        """Every camera's state and counters, by id."""
        ...

    def latest_frame(self, camera: str) -> bytes | None:
        """The latest annotated frame of a camera (JPEG)."""
        ...

    @property
    def clips(self) -> ClipStore | None:
        """The store of the cameras' pre/post clips, when a camera records them."""
        ...


class Status:
    """The gateway as the status API sees it; attaches to the intake and the rule runner on creation."""

    def __init__(
        self, gateway: Gateway, *, clock: Callable[[], int] | None = None, cameras: CameraSource | None = None
    ) -> None:
        self.gateway = gateway
        self.clock = clock or gateway.clock
        self.health = DeviceHealth(self.clock)
        self.board = IncidentBoard()
        self.hub = EventHub()
        self._cameras = cameras
        self._labels: EventTypeTable | None = None
        self._task: asyncio.Task[None] | None = None
        self.api_rejects: Counter[str] = Counter()
        """API requests refused, by reason (unauthorized, bad_limit…)."""
        self._attach()

    # -- attaching ----------------------------------------------------------------------------------

    def _attach(self) -> None:
        gateway = self.gateway
        gateway.intake.observers.append(self.health.observe)
        self._labels = _event_types(gateway)
        runner = gateway.rules
        if runner is not None:
            runner.emitters.append(self._on_events)
            engine = runner.engine
            gateway.journal.call(lambda _txn: self.board.seed(_open_incidents(engine.subjects())))

    def _on_events(self, _txn: Txn, events: Sequence[IncidentEvent]) -> None:
        """A RuleRunner emitter: mirror the events and publish them live (committer thread)."""
        self.board.apply(events)
        for event in events:
            data = {"event": event.kind.value, "reason": event.reason, "incident": self.incident(event.incident)}
            self.hub.publish("incident", data)

    # -- incidents ------------------------------------------------------------------------------------

    def label(self, code: str) -> str:
        """ "大类/小类" of an event type code when the city's table is configured, else ""."""
        return self._labels.label(code) if self._labels is not None else ""

    def incident(self, incident: Incident) -> dict[str, Any]:
        """An incident as JSON, `has_snapshot` also true when its camera has a frame to show."""
        data = incident_json(incident, self.label if self._labels is not None else None)
        if not data["has_snapshot"]:
            data["has_snapshot"] = self._camera_of(incident.subject) is not None
        return data

    def incidents(self, what: IncidentFilter) -> list[dict[str, Any]]:
        """Open and recent incidents that pass the filter."""
        return [self.incident(inc) for inc in self.board.query(what)]

    def incident_snapshot(self, incident_id: str) -> bytes | None:
        """The incident's kept detection snapshot, else its camera's latest frame, else None (blocking read)."""
        incident = self.board.get(incident_id)
        if incident is None:
            return None
        refs = [e for e in incident.evidence if e.startswith(SNAPSHOT_PREFIX)]
        jpeg = _stored_snapshot(self.gateway.journal.settings.path, refs) if refs else None
        camera = self._camera_of(incident.subject)
        if jpeg is None and camera is not None:
            jpeg = self.camera_frame(camera)
        return jpeg

    # -- devices --------------------------------------------------------------------------------------

    def devices(self) -> list[dict[str, Any]]:
        """Every registered device with last seen and health, silent ones first."""
        return self.health.rows(self.gateway.loaded.registry.devices(), self.clock())

    def device_summary(self) -> Counter[str]:
        """Registered devices by health."""
        states = self.health.states(self.gateway.loaded.registry.devices(), self.clock())
        return Counter(states.values())

    def effective_rules(self, device_id: str) -> list[dict[str, Any]] | None:
        """The rules that apply to a device as they apply (rules.explain); None for an unknown device."""
        device = self.gateway.loaded.registry.device(device_id)
        if device is None:
            return None
        ruleset = self.gateway.loaded.rules
        if ruleset is None:
            return []
        return [
            {"rule": eff.rule.id, "kind": eff.rule.kind, "event_type": eff.rule.event_type,
             "event_type_label": self.label(eff.rule.event_type), "enabled": eff.rule.enabled,
             "overrides": list(eff.sources), "fingerprint": eff.fingerprint, "text": eff.describe(),
             "settings": eff.rule.model_dump(mode="json", exclude_none=True)}
            for eff in explain(ruleset, device)
        ]  # fmt: skip

    def grid(self) -> dict[str, Any]:
        """The configured cells and the names of every level."""
        return grid_json(self.gateway.loaded.registry.cells())

    # -- cameras --------------------------------------------------------------------------------------

    @property
    def cameras(self) -> CameraSource | None:
        """The camera supervisor: the one given, else the gateway's `cameras` when it has one."""
        return self._cameras or getattr(self.gateway, "cameras", None)

    def camera_statuses(self) -> Mapping[str, CameraStatus]:
        """Every camera's status (empty without cameras)."""
        cameras = self.cameras
        return cameras.status() if cameras is not None else {}

    def camera_list(self) -> list[dict[str, Any]]:
        """Cameras as /api/v1/cameras shows them, with the URL of their latest annotated frame."""
        return [
            {**s.as_dict(), "id": cid, "snapshot": f"/api/v1/cameras/{cid}/snapshot.jpg" if s.has_preview else None}
            for cid, s in sorted(self.camera_statuses().items())
        ]

    def camera_frame(self, camera: str) -> bytes | None:
        """A camera's latest annotated frame (JPEG), if any."""
        cameras = self.cameras
        return cameras.latest_frame(camera) if cameras is not None else None

    def clip(self, ref: str) -> StoredClip | None:
        """A kept clip by its evidence reference."""
        cameras = self.cameras
        store = cameras.clips if cameras is not None else None
        return store.get(ref) if store is not None else None

    def clip_stats(self) -> dict[str, int] | None:
        """The clip store's size, budget and counters (None when no camera records clips)."""
        cameras = self.cameras
        store = cameras.clips if cameras is not None else None
        return store.stats() if store is not None else None

    def _camera_of(self, subject: str) -> str | None:
        """The camera a `camera:zone` subject names, when that camera is running here."""
        camera = subject.split(":", 1)[0]
        return camera if ":" in subject and camera in self.camera_statuses() else None

    # -- readiness ------------------------------------------------------------------------------------

    def readiness(self) -> dict[str, dict[str, Any]]:
        """The gateway's per-component readiness, plus journal writability and depth, subscriptions, cameras."""
        gateway = self.gateway
        out = gateway.readiness()
        journal = gateway.journal
        directory = journal.settings.path.parent
        writable = os.access(directory, os.W_OK)
        out["journal"].update(
            writable=writable, free_bytes=shutil.disk_usage(directory).free,
            depth={sink: journal.depth(sink) for sink in journal.sinks},
        )  # fmt: skip
        out["journal"]["ok"] = bool(out["journal"]["ok"]) and writable
        if gateway.mqtt is not None:
            mqtt = gateway.mqtt
            out["mqtt"]["subscribed"] = mqtt.connected.is_set() and mqtt.stats.connects > 0
            out["mqtt"]["subscriptions"] = [sub.topic for sub in mqtt.subscriptions]
        cameras = self.camera_statuses()
        if cameras:
            out["cameras"] = {
                "ok": not any(s.state in CAMERA_DOWN for s in cameras.values()),
                "cameras": {cid: {"state": s.state, "fps": s.fps, "last_error": s.last_error}
                            for cid, s in cameras.items()},
            }  # fmt: skip
        return out

    # -- live changes ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the live stream to the running loop and start watching for changes."""
        self.hub.bind(asyncio.get_running_loop())
        self._task = asyncio.create_task(self._watch(), name="status-watch")

    async def stop(self) -> None:
        """End the live streams and the watcher."""
        self.hub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        devices: dict[str, str] = {}
        cameras: dict[str, str] = {}
        while True:
            try:
                devices = self._device_changes(devices)
                cameras = self._camera_changes(cameras)
            except Exception:
                log.exception("status watcher: unexpected error; continuing")
            await asyncio.sleep(WATCH_EVERY)

    def _device_changes(self, before: dict[str, str]) -> dict[str, str]:
        registry = self.gateway.loaded.registry
        now = self.clock()
        states = self.health.states(registry.devices(), now)
        for device_id, health in states.items():
            if before.get(device_id, health) != health:
                device = registry.device(device_id)
                if device is not None:
                    self.hub.publish("device", self.health.row(device, now))
        return states

    def _camera_changes(self, before: dict[str, str]) -> dict[str, str]:
        statuses = self.camera_statuses()
        states: dict[str, str] = {cid: s.state for cid, s in statuses.items()}
        for cid, state in states.items():
            if before.get(cid) != state:
                self.hub.publish("camera", {**statuses[cid].as_dict(), "id": cid})
        return states


def _open_incidents(bindings: Sequence[Any]) -> list[Incident]:
    """The incidents the engine's bindings hold open (run on the committer thread)."""
    return [b.machine.incident for b in bindings if b.machine.incident is not None]


def _event_types(gateway: Gateway) -> EventTypeTable | None:
    """The city's event-type table when the rules section names one."""
    section = gateway.rules_config
    if section is None or section.event_types is None:
        return None
    try:
        return load_event_types(section.event_types.read_text(encoding="utf-8"), str(section.event_types))
    except (OSError, RuleFileError) as exc:
        log.warning("event type labels unavailable: %s", exc)
        return None


def _stored_snapshot(path: Path, refs: list[str]) -> bytes | None:
    """A detection snapshot kept in the journal's outbox_snapshots table (read-only connection)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            for ref in refs:
                row = db.execute("SELECT jpeg FROM outbox_snapshots WHERE ref = ?", (ref,)).fetchone()
                if row is not None:
                    return bytes(row[0])
    except sqlite3.Error:
        return None
    return None
