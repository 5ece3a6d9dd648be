"""Runs the rule engine inside the journal's group commits, so incident events and rule state change
in the same transaction as the readings that caused them.

Everything here runs on the journal's committer thread (a stage for readings, jobs for ticks,
detections, acks and reloads), so the engine needs no lock. Rule state is saved every
`state_interval` with the id of the last journal row it covers; after a crash the engine is
restored from that snapshot (pending timers keep their remaining time) and the readings journaled
since are replayed through it with their events discarded: those events were committed with the
readings the first time.
"""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from gateway.journal import Journal, Txn
from gateway.model import Detection, IncidentEvent
from gateway.model.lineproto import encode_line, reading_from_line, series_key
from gateway.statefork import FORK_AVAILABLE, ForkedSnapshot, remove_leftovers
from rules import DeviceInfo, Engine, RuleSet

log = logging.getLogger("gridedge.rules")

STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS rule_state (
    name TEXT PRIMARY KEY, upto INTEGER NOT NULL, now_ns INTEGER NOT NULL, snapshot TEXT NOT NULL
);
"""
NOT_RULED = frozenset({"gridedge", "incident", "detection"})
"""Journal kinds that are not sensor readings (the gateway's metrics, incidents, detections)."""

Emitter = Callable[[Txn, Sequence[IncidentEvent]], None]
"""Writes incident events somewhere inside the transaction: the outbox, the `incident` measurement."""


class RuleRunner:
    """The rule engine wired to the journal: evaluates committed readings, ticks timers, persists state."""

    def __init__(
        self,
        journal: Journal,
        rules: RuleSet,
        lookup: Callable[[str], DeviceInfo | None],
        devices: Iterable[DeviceInfo],
        gateway_id: str,
        *,
        state_interval: float = 30.0,
        emitters: Sequence[Emitter] = (),
    ) -> None:
        self.journal = journal
        self.lookup = lookup
        self.gateway_id = gateway_id
        self.state_interval = state_interval
        self.emitters = list(emitters)
        self.events = 0
        self.background_saves = FORK_AVAILABLE
        """Periodic snapshots serialised by a forked child (gateway/statefork.py), not in the commit."""
        self._saved_at = time.monotonic()
        self._pending: ForkedSnapshot | None = None
        self._upto = 0
        self._lock = threading.Lock()  # only for `open_incidents` readers on other threads
        self.engine = self._start(rules, list(devices))
        journal.add_stage(self._stage)

    # -- start: restore and replay -------------------------------------------------------------------

    def _start(self, rules: RuleSet, devices: list[DeviceInfo]) -> Engine:
        return self.journal.setup(lambda db: self._resume(db, rules, devices))

    def _resume(self, db: sqlite3.Connection, rules: RuleSet, devices: list[DeviceInfo]) -> Engine:
        db.executescript(STATE_SCHEMA)
        remove_leftovers(self.journal.settings.path.parent)
        row = db.execute("SELECT upto, snapshot FROM rule_state WHERE name = 'engine'").fetchone()
        now = self.journal.clock()
        if row is None:
            return self._fresh(rules, devices, now)
        upto, snapshot = int(row[0]), json.loads(row[1])
        try:
            engine = Engine.restore(snapshot, rules, self.gateway_id, devices, now)
        except (ValueError, KeyError) as exc:
            log.warning("rule state could not be restored (%s); starting the rules afresh", exc)
            return self._fresh(rules, devices, now)
        replayed = self._replay(engine, db, upto, now)
        log.info(
            "rules restored: %d open incident(s), %d reading(s) replayed from the journal",
            len(engine.open_incidents()), replayed,
        )
        return engine

    def _fresh(self, rules: RuleSet, devices: list[DeviceInfo], now: int) -> Engine:
        """A new engine started now: every registered device is bound (silence counts from this start)
        before the first reading arrives, so binding thousands of devices never delays a commit."""
        engine = Engine(rules, self.gateway_id, devices)
        engine.tick(now)  # nothing is due yet: this only starts the clock and binds the devices
        return engine

    def _replay(self, engine: Engine, db: sqlite3.Connection, upto: int, now: int) -> int:
        count = 0
        for row_id, kind, line in db.execute("SELECT id, kind, line FROM readings WHERE id > ? ORDER BY id", (upto,)):
            self._upto = int(row_id)
            if kind in NOT_RULED:
                continue
            try:
                reading = reading_from_line(line)
            except ValueError:
                continue
            engine.on_reading(reading, self.lookup(reading.device), now)  # its events were committed already
            count += 1
        return count

    # -- on the committer thread -----------------------------------------------------------------------

    def _stage(self, txn: Txn) -> None:
        events: list[IncidentEvent] = []
        for row_id, reading in txn.readings:
            self._upto = row_id
            if reading is None or reading.kind in NOT_RULED:
                continue
            events += self.engine.on_reading(reading, self.lookup(reading.device), txn.now_ns)
        self._emit(txn, events)
        if self._pending is not None:
            self._collect(txn)
        if time.monotonic() - self._saved_at >= self.state_interval and self._pending is None:
            if self.background_saves:
                self._fork_save(txn)
            else:
                self.save_state(txn)

    def _emit(self, txn: Txn, events: Sequence[IncidentEvent]) -> None:
        if not events:
            return
        self.events += len(events)
        for emit in self.emitters:
            emit(txn, events)

    def save_state(self, txn: Txn) -> None:
        """Write the engine's snapshot and the journal id it covers (inside the transaction, now)."""
        if self._pending is not None:  # an older snapshot still being written: this one supersedes it
            self._pending.wait()
            self._pending = None
        collecting = gc.isenabled()
        gc.disable()  # a burst of short-lived dicts: collector passes over 40,000 bindings would double its cost
        try:
            snapshot = self.engine.snapshot_json()
        finally:
            if collecting:
                gc.enable()
        self._store(txn, self._upto, txn.now_ns, snapshot)

    def _fork_save(self, txn: Txn) -> None:
        """Start a child that writes the snapshot as the engine is now; a later commit stores it."""
        try:
            self._pending = ForkedSnapshot(self.engine.snapshot_json, self.journal.settings.path.parent,
                                           self._upto, txn.now_ns)  # fmt: skip
        except OSError as exc:
            log.warning("rule state: cannot fork a snapshot writer (%s); saving in the commit", exc)
            self.background_saves = False
            self.save_state(txn)
            return
        self._saved_at = time.monotonic()

    def _collect(self, txn: Txn) -> None:
        """Store the forked child's snapshot once it is written (dropped if it failed: the next one comes)."""
        pending = self._pending
        assert pending is not None
        done, text = pending.poll()
        if not done:
            return
        self._pending = None
        if text is None:
            log.warning("rule state: the snapshot writer failed; the previous state stays until the next save")
        else:  # always newer than the stored one: an in-commit save waits for the child and drops it
            self._store(txn, pending.upto, pending.now_ns, text)

    def _store(self, txn: Txn, upto: int, now_ns: int, snapshot: str) -> None:
        """The snapshot row, in the transaction."""
        txn.conn.execute(
            "INSERT INTO rule_state (name, upto, now_ns, snapshot) VALUES ('engine', ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET upto = excluded.upto, now_ns = excluded.now_ns, "
            "snapshot = excluded.snapshot",
            (upto, now_ns, snapshot),
        )
        self._saved_at = time.monotonic()

    # -- from other threads: all go through the committer ------------------------------------------------

    def tick(self) -> None:
        """Fire due timers (for, clear_for, silence, reminders) in the next transaction."""
        self.journal.call(lambda txn: self._emit(txn, self.engine.tick(txn.now_ns)))

    def on_detection(self, detection: Detection) -> None:
        """Evaluate a camera detection in the next transaction."""
        self.journal.call(lambda txn: self._emit(txn, self.engine.on_detection(detection, txn.now_ns)))

    def ack(self, incident_id: str, done: Callable[[bool], None] | None = None) -> None:
        """The platform acknowledged an incident: its reminders stop."""

        def job(_txn: Txn) -> None:
            found = self.engine.ack(incident_id)
            if done is not None:
                done(found)

        self.journal.call(job)

    def handled(self, incident_id: str, done: Callable[[bool], None] | None = None) -> None:
        """The platform reports the incident handled (处置完毕): verify it against the condition."""

        def job(txn: Txn) -> None:
            found = incident_id in self.engine.open_incidents()
            self._emit(txn, self.engine.handled(incident_id, txn.now_ns))
            if done is not None:
                done(found)

        self.journal.call(job)

    def on_detection_with(self, detection: Detection, before: Callable[[Txn, Detection], None]) -> None:
        """Evaluate a detection after `before(txn, detection)` ran in the same transaction (keeps evidence)."""

        def job(txn: Txn) -> None:
            before(txn, detection)
            self._emit(txn, self.engine.on_detection(detection, txn.now_ns))

        self.journal.call(job)

    def reload(self, rules: RuleSet, devices: Iterable[DeviceInfo]) -> None:
        """Swap in new rules and devices; unchanged rules keep their state, changed ones start over."""
        device_list = list(devices)

        def job(txn: Txn) -> None:
            events = self.engine.reload(rules, txn.now_ns)
            self.engine.update_devices(device_list, txn.now_ns)
            self._emit(txn, events)
            self.save_state(txn)

        self.journal.call(job)


class IncidentPoints:
    """Writes each incident event as a point of the `incident` measurement (Grafana annotations)."""

    def __init__(self, gateway_id: str) -> None:
        self.gateway_id = gateway_id

    def __call__(self, txn: Txn, events: Sequence[IncidentEvent]) -> None:
        """Journal one `incident` line per event, in the same transaction."""
        for event in events:
            incident = event.incident
            tags = {
                "gateway": self.gateway_id, "rule": incident.rule, "event": event.kind.value,
                "event_type": incident.event_type, "severity": incident.severity, "subject": incident.subject,
            }
            if incident.grid is not None:
                tags.update(incident.grid.levels())
            fields: dict[str, float | int | bool | str] = {
                "incident_id": incident.id,
                "revision": float(incident.revision),
                "title": f"{incident.rule} {event.kind.value}: {incident.severity} on {incident.subject}",
                "reason": event.reason,
            }
            for name, value in incident.values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    fields[f"value_{name}"] = float(value)
            line = encode_line(series_key("incident", tags), fields, event.ts_ns)
            txn.add_line(event.ts_ns, incident.subject, "incident", line)
