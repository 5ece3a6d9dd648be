"""The rule engine: readings, detections and clock ticks in; incident events out. Pure: time is passed in.

Readings are evaluated at their own timestamp (`ts_ns`), so live, replay and backtest agree; timers
(`for`, `clear_for`, silence, reminders, schedule ends) fire on `tick(now_ns)` or on the next input,
always strictly before `now_ns` and stamped with their own deadline.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

import orjson

from gateway.model import Detection, GridCell, IncidentEvent, IncidentEventKind, Reading
from rules.binding import Binding, is_maintenance
from rules.device import DeviceInfo, DeviceSpec, device_of
from rules.effective import Compiled, EffectiveRule, effective, interval_ns
from rules.kinds import DetectionRule, SilenceRule
from rules.lifecycle import Machine, resolve_orphan
from rules.ruleset import RuleSet
from rules.states import make_state

SNAPSHOT_VERSION = 2
"""2: devices listed once (subjects name them), idle lifecycle values left out; 1 is still read."""


class Engine:
    """Evaluates a rule set for one gateway; one incident per (rule, subject) while open."""

    def __init__(self, rules: RuleSet, gateway_id: str, devices: Iterable[DeviceInfo] = ()) -> None:
        self.rules = rules
        self.gateway_id = gateway_id
        self.devices: dict[str, DeviceInfo] = {d.id: d for d in devices}
        self.start_ns: int | None = None
        self.now_ns = 0
        self.counters: dict[str, int] = {"readings": 0, "maintenance_skipped": 0, "detections": 0, "events": 0}
        self._compiled: dict[str, Compiled] = {}
        self._subjects: dict[tuple[str, str], Binding] = {}
        self._index: dict[str, list[Binding]] = {}
        self._cameras: dict[str, list[Compiled]] = {}
        self._heap: list[tuple[int, int, tuple[str, str]]] = []
        self._seq = 0
        self._incidents: dict[str, tuple[str, str]] = {}
        self._backlog: list[IncidentEvent] = []

    # -- inputs --------------------------------------------------------------------------------

    def on_reading(self, reading: Reading, device: DeviceInfo | None, now_ns: int) -> list[IncidentEvent]:
        """Evaluate a reading against the rules of its device (registry entry, or built from the reading)."""
        if self.start_ns is None or self._backlog or (self._heap and self._heap[0][0] < now_ns):
            out = self._begin(now_ns)
        else:  # nothing due and nothing pending: _begin would only move the clock
            out = []
            self.now_ns = max(self.now_ns, now_ns)
        self.counters["readings"] += 1
        bindings = self._index.get(reading.device)
        if bindings is None:
            info = device or self.devices.get(reading.device) or device_of(reading)
            bindings = self.bindings(info, expected=reading.device in self.devices)
        t = reading.ts_ns
        maintenance: bool | None = None
        for binding in bindings:
            if binding.skip_maint:
                if maintenance is None:
                    maintenance = is_maintenance(reading)
                    if maintenance:
                        self.counters["maintenance_skipped"] += 1
                if maintenance:
                    continue
            if binding.on_reading(reading, t, now_ns, out):
                self._queue(binding)
        return self._done(out) if out else out

    def on_detection(self, detection: Detection, now_ns: int) -> list[IncidentEvent]:
        """Evaluate a camera detection against the detection rules of its camera and zone."""
        out = self._begin(now_ns)
        self.counters["detections"] += 1
        compiled = self._cameras.get(detection.camera)
        if compiled is None:
            compiled = self._camera_rules(detection)
        subject = f"{detection.camera}:{detection.zone}"
        for comp in compiled:
            rule = comp.rule
            assert isinstance(rule, DetectionRule)
            if rule.detector != detection.detector or (rule.zones is not None and detection.zone not in rule.zones):
                continue
            binding = self._subjects.get((rule.id, subject))
            if binding is None:
                device = self.devices.get(detection.camera) or DeviceSpec(
                    detection.camera, "camera", grid=detection.grid
                )
                binding = self._make(comp, subject, device, detection.grid or device.grid)
            rank = binding.kind.detect(detection, detection.ts_ns)
            if rank >= 0:
                binding.apply(rank, detection.ts_ns, out)
            self._queue(binding)
        return self._done(out)

    def tick(self, now_ns: int) -> list[IncidentEvent]:
        """Fire every timer due strictly before now_ns."""
        return self._done(self._begin(now_ns))

    def ack(self, incident_id: str) -> bool:
        """The dispatch platform acknowledged an incident: stop its reminders. False if it is not open."""
        key = self._incidents.get(incident_id)
        binding = self._subjects.get(key) if key else None
        if binding is None:
            return False
        binding.machine.ack()
        return True

    def handled(self, incident_id: str, now_ns: int) -> list[IncidentEvent]:
        """The platform reports an incident handled (处置完毕): verify it (see `Machine.handled`)."""
        out = self._begin(now_ns)
        key = self._incidents.get(incident_id)
        binding = self._subjects.get(key) if key else None
        if binding is not None:
            binding.machine.handled(now_ns, out)
        return self._done(out)

    def subjects(self) -> list[Binding]:
        """Every (rule, subject) binding the engine holds."""
        return list(self._subjects.values())

    def open_incidents(self) -> list[str]:
        """Ids of the incidents open now."""
        return list(self._incidents)

    # -- binding rules to subjects -------------------------------------------------------------

    def bindings(self, device: DeviceInfo, expected: bool = True) -> list[Binding]:
        """The reading-driven bindings of a device, created on first use (silence only for expected devices)."""
        found: list[Binding] = []
        for rule in self.rules.rules:
            if isinstance(rule, DetectionRule) or (isinstance(rule, SilenceRule) and not expected):
                continue
            eff = effective(self.rules, rule, device)
            if eff is None or not eff.rule.enabled:
                continue
            comp = self._compile(eff)
            binding = self._subjects.get((rule.id, device.id))
            if binding is None or binding.compiled.fingerprint != comp.fingerprint:
                if isinstance(rule, SilenceRule) and interval_ns(comp, device) is None:
                    continue
                binding = self._make(comp, device.id, device, device.grid)
            found.append(binding)
        self._index[device.id] = found
        return found

    def _camera_rules(self, detection: Detection) -> list[Compiled]:
        """The effective detection rules of a camera."""
        device = self.devices.get(detection.camera) or DeviceSpec(detection.camera, "camera", grid=detection.grid)
        found = []
        for rule in self.rules.rules:
            if isinstance(rule, DetectionRule):
                eff = effective(self.rules, rule, device)
                if eff is not None and eff.rule.enabled:
                    found.append(self._compile(eff))
        self._cameras[detection.camera] = found
        return found

    def _compile(self, eff: EffectiveRule) -> Compiled:
        """Compile an effective rule once per distinct fingerprint."""
        comp = self._compiled.get(eff.fingerprint)
        if comp is None:
            comp = self._compiled[eff.fingerprint] = Compiled(self.rules, eff, self.gateway_id)
        return comp

    def _make(self, comp: Compiled, subject: str, device: DeviceInfo, grid: GridCell | None) -> Binding:
        """Create and register the binding of a compiled rule to a subject."""
        kind = make_state(comp.rule, comp.levels, comp.severities, subject, interval_ns(comp, device) or 1, self.now_ns)
        binding = Binding(comp, kind, Machine(comp.policy, subject, grid), device)
        self._subjects[binding.key] = binding
        self._queue(binding)
        return binding

    # -- timers --------------------------------------------------------------------------------

    def _begin(self, now_ns: int) -> list[IncidentEvent]:
        """Start the clock on first use, take the backlog, and fire timers due before now."""
        out, self._backlog = self._backlog, []
        self.now_ns = max(self.now_ns, now_ns)
        if self.start_ns is None:
            self.start_ns = now_ns
            self._bind_expected()
        if self._heap and self._heap[0][0] < now_ns:
            self._advance(now_ns, out)
        return out

    def _bind_expected(self) -> None:
        """Bind every registry device not bound yet, so silence rules watch devices never seen."""
        for device in self.devices.values():
            if device.id not in self._index:
                self.bindings(device, expected=True)

    def _queue(self, binding: Binding) -> None:
        """Make sure the heap holds an entry no later than the binding's next deadline."""
        due = binding.due()
        if due is not None and (binding.queued is None or due < binding.queued):
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, binding.key))
            binding.queued = due

    def _advance(self, now: int, out: list[IncidentEvent]) -> None:
        """Fire deadlines strictly before now, lazily skipping entries that moved."""
        heap = self._heap
        while heap and heap[0][0] < now:
            due, _, key = heapq.heappop(heap)
            binding = self._subjects.get(key)
            if binding is None:
                continue
            if binding.queued is not None and binding.queued <= due:
                binding.queued = None
            real = binding.due()
            if real is not None and real < now:
                binding.advance(now, out)
            self._queue(binding)

    def _done(self, out: list[IncidentEvent]) -> list[IncidentEvent]:
        """Track open incidents (for ack) and count events."""
        for event in out:
            incident = event.incident
            if event.kind == IncidentEventKind.OPENED:
                self._incidents[incident.id] = (incident.rule, incident.subject)
            elif event.kind == IncidentEventKind.RESOLVED:
                self._incidents.pop(incident.id, None)
        self.counters["events"] += len(out)
        return out

    # -- reload, devices, persistence ----------------------------------------------------------

    def reload(self, rules: RuleSet, now_ns: int) -> list[IncidentEvent]:
        """Switch to a new rule set; rules whose effective form is unchanged keep their state."""
        out = self._begin(now_ns)
        for key, binding in list(self._subjects.items()):
            rule = rules.rule(key[0])
            eff = effective(rules, rule, binding.device) if rule is not None else None
            if eff is None or not eff.rule.enabled or eff.fingerprint != binding.compiled.fingerprint:
                binding.machine.stop(now_ns, "rule_removed" if eff is None else "rule_changed", out)
                del self._subjects[key]
        self.rules = rules
        self._reindex()
        return self._done(out)

    def update_devices(self, devices: Iterable[DeviceInfo], now_ns: int) -> list[IncidentEvent]:
        """Switch to a new device registry; subjects whose device changed or left start over."""
        out = self._begin(now_ns)
        self.devices = {d.id: d for d in devices}
        for key, binding in list(self._subjects.items()):
            device = self.devices.get(binding.device.id)
            rule = self.rules.rule(key[0])
            silence = isinstance(rule, SilenceRule)
            if device is None and not silence:
                continue
            eff = effective(self.rules, rule, device) if rule is not None and device is not None else None
            same = eff is not None and eff.fingerprint == binding.compiled.fingerprint
            if not same or device is None or device.grid != binding.machine.grid:
                binding.machine.stop(now_ns, "device_changed", out)
                del self._subjects[key]
        self._reindex()
        return self._done(out)

    def _reindex(self) -> None:
        """Drop the per-device caches and re-bind expected devices."""
        self._index.clear()
        self._cameras.clear()
        self._bind_expected()

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state: every subject's lifecycle and kind state, the devices they bind, the clock."""
        subjects = [self._subject(b) for b in self._subjects.values()]
        return {**self._head(), "devices": self._devices(), "subjects": subjects}

    def snapshot_json(self) -> str:
        """`snapshot()` as compact JSON, encoded subject by subject so the peak memory stays near the text's size.

        orjson, not the json module: a quarter of the time at 40,000 subjects, and this runs inside a commit.
        """
        head = orjson.dumps({**self._head(), "devices": self._devices()})
        subjects = b",".join(orjson.dumps(self._subject(b)) for b in self._subjects.values())
        return (head[:-1] + b',"subjects":[' + subjects + b"]}").decode()

    def _head(self) -> dict[str, Any]:
        """The snapshot's version, gateway and clock."""
        return {"version": SNAPSHOT_VERSION, "gateway_id": self.gateway_id, "start_ns": self.start_ns,
                "now_ns": self.now_ns}  # fmt: skip

    def _devices(self) -> dict[str, Any]:
        """Every bound device's rule-relevant attributes, once each."""
        return {b.device.id: _dump_device(b.device) for b in self._subjects.values()}

    @staticmethod
    def _subject(binding: Binding) -> dict[str, Any]:
        """One subject's state (its device by id)."""
        grid = binding.machine.grid
        return {
            "rule": binding.key[0], "subject": binding.key[1], "fingerprint": binding.compiled.fingerprint,
            "device": binding.device.id, "grid": None if grid is None else [grid.code, grid.name],
            "machine": binding.machine.dump(), "kind": binding.kind.dump(),
        }  # fmt: skip

    @classmethod
    def restore(
        cls, snapshot: dict[str, Any], rules: RuleSet, gateway_id: str, devices: Iterable[DeviceInfo], now_ns: int
    ) -> Engine:
        """An engine resumed from `snapshot`: deadlines keep their remaining time across the downtime.

        Subjects of rules that changed start over; their open incidents are resolved ("rule_changed")
        with the first events the new engine returns.
        """
        if snapshot.get("version") not in (1, SNAPSHOT_VERSION):
            raise ValueError(f"rule engine snapshot version {snapshot.get('version')!r} is not {SNAPSHOT_VERSION}")
        engine = cls(rules, gateway_id, devices)
        shift = max(0, now_ns - int(snapshot["now_ns"]))
        engine.now_ns = now_ns
        engine.start_ns = None if snapshot["start_ns"] is None else snapshot["start_ns"] + shift
        dumped = snapshot.get("devices", {})
        for item in snapshot["subjects"]:
            device = item["device"]  # version 1 held each subject's device inline
            engine._restore_subject({**item, "device": dumped[device] if isinstance(device, str) else device},
                                    shift, now_ns)  # fmt: skip
        for key, binding in engine._subjects.items():
            if binding.machine.incident is not None:
                engine._incidents[binding.machine.incident.id] = key
        if engine.start_ns is not None:
            engine._bind_expected()
        return engine

    def _restore_subject(self, item: dict[str, Any], shift: int, now_ns: int) -> None:
        """Rebuild one subject from a snapshot entry, or resolve its orphaned incident."""
        device = self.devices.get(item["device"]["id"]) or _load_device(item["device"])
        grid = GridCell(*item["grid"]) if item["grid"] else None
        rule = self.rules.rule(item["rule"])
        eff = effective(self.rules, rule, device) if rule is not None else None
        if eff is None or eff.fingerprint != item["fingerprint"]:
            if item["machine"]["incident"] is not None:
                self._backlog.append(resolve_orphan(item["machine"]["incident"], grid, now_ns, "rule_changed"))
            return
        binding = self._make(self._compile(eff), item["subject"], device, grid)
        binding.machine.load(item["machine"], shift)
        binding.kind.load(item["kind"], shift)
        binding.queued = None
        self._queue(binding)


def _dump_device(device: DeviceInfo) -> dict[str, Any]:
    """A device's rule-relevant attributes as JSON-ready data."""
    grid = device.grid
    return {
        "id": device.id, "kind": device.kind, "device_class": device.device_class,
        "grid": None if grid is None else [grid.code, grid.name], "interval": device.interval,
        "tags": dict(device.tags),
    }  # fmt: skip


def _load_device(data: dict[str, Any]) -> DeviceSpec:
    """A DeviceSpec from `_dump_device` data."""
    grid = GridCell(*data["grid"]) if data["grid"] else None
    return DeviceSpec(data["id"], data["kind"], data["device_class"], grid, data["interval"], data["tags"])
