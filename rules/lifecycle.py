"""The incident lifecycle of one rule on one subject: pending `for`, open, clearing, resolved.

Fed a severity rank (0 = clear) whenever it changes and fired at its own deadlines, it emits
`opened` / `updated` (severity, peak, reminder) / `resolved` events whose revisions only grow. Timer
events are stamped with their deadline, not with the time they were noticed, so the same input gives
the same incidents however often the clock ticks; an incident's id hashes gateway, rule, subject and
opening time, so a replay gives the same ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, Protocol

from gateway.model import FieldValue, GridCell, Incident, IncidentEvent, IncidentEventKind
from rules.schedule import Calendar


class Phase(IntEnum):
    """Where a subject is in the lifecycle."""

    IDLE = 0
    PENDING = 1
    OPEN = 2
    CLEARING = 3


class Source(Protocol):
    """What the lifecycle asks of a rule kind's state when it needs the values behind an event."""

    value: float
    evidence: tuple[str, ...]

    def values(self, rank: int) -> dict[str, FieldValue]:
        """The values that explain the current state (current, aggregate, threshold crossed…)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The timing and naming policy of one effective rule."""

    gateway_id: str
    rule_id: str
    event_type: str
    severities: tuple[str, ...]
    for_ns: int = 0
    clear_for_ns: int = 0
    cooldown_ns: int = 0
    remind_ns: int | None = None
    new_peak: float | None = None
    sign: float = 1.0
    flap_max: int | None = None
    flap_within_ns: int = 0
    quiet: Calendar | None = None


def incident_id(gateway_id: str, rule_id: str, subject: str, opened_ns: int) -> str:
    """The derived incident id: a hash of gateway, rule, subject and opening time."""
    key = f"{gateway_id}\x1f{rule_id}\x1f{subject}\x1f{opened_ns}".encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


_INCIDENT_FIELDS = tuple(f.name for f in fields(Incident))


def _copy(incident: Incident) -> Incident:
    """A snapshot of an incident for an event (the live one keeps changing); `replace` without its checks."""
    copy = Incident(*[getattr(incident, name) for name in _INCIDENT_FIELDS])
    copy.values, copy.evidence = dict(incident.values), list(incident.evidence)
    return copy


class Machine:
    """The lifecycle of one (rule, subject)."""

    __slots__ = (
        "acked", "flapping", "grid", "inc_level", "incident", "last_t", "level", "opens", "peak",
        "phase", "policy", "remind_due", "resolved_at", "since", "subject", "trigger", "trigger_evidence",
        "verifying",
    )  # fmt: skip

    def __init__(self, policy: Policy, subject: str, grid: GridCell | None) -> None:
        self.policy = policy
        self.subject = subject
        self.grid = grid
        self.phase = Phase.IDLE
        self.level = 0
        self.since = 0
        self.last_t = 0
        self.trigger: dict[str, FieldValue] = {}
        self.trigger_evidence: tuple[str, ...] = ()
        self.incident: Incident | None = None
        self.inc_level = 0
        self.peak = 0.0
        self.remind_due: int | None = None
        self.acked = False
        self.resolved_at: int | None = None
        self.opens: list[int] = []
        self.flapping = False
        self.verifying = False
        """The platform reported the incident handled (处置完毕) while it was clearing: 核查 in progress."""

    # -- feeding -------------------------------------------------------------------------------

    def observe(self, t: int, level: int, src: Source, out: list[IncidentEvent]) -> None:
        """Take the severity rank seen at t (call it when the rank changes, or on every sample for peaks)."""
        t = max(t, self.last_t)
        self.last_t = t
        previous, self.level = self.level, level
        phase = self.phase
        if phase == Phase.IDLE:
            if level:
                self.phase = Phase.PENDING
                self.since = t
                self._remember(level, src)
                if self.open_due() <= t:
                    self._open(t, out)
        elif phase == Phase.PENDING:
            if not level:
                self.phase = Phase.IDLE
            elif level != previous:
                self._remember(level, src)
        elif level:
            self.phase = Phase.OPEN
            if self.verifying:  # back over the limit while the platform's handling was being verified
                self.verifying = False
                self._update(t, "verification", {"verification": "failed"}, out, level)
            elif level != self.inc_level:
                self._update(t, "severity", src.values(level), out, level)
            elif self.policy.new_peak is not None and self.phase == Phase.OPEN:
                self._maybe_peak(t, src, out)
        elif phase == Phase.OPEN:
            self.phase = Phase.CLEARING
            self.since = t
            self._remember(0, src)
            if self.clear_due() <= t:
                self._resolve(t, "cleared", out)

    def _remember(self, level: int, src: Source) -> None:
        """Keep the values of the sample that caused the current state."""
        self.trigger = src.values(level)
        self.trigger_evidence = src.evidence
        if level:
            self.peak = src.value

    def _maybe_peak(self, t: int, src: Source, out: list[IncidentEvent]) -> None:
        """Send an update when the value passes the last reported peak by `new_peak`."""
        step, sign = self.policy.new_peak or 0.0, self.policy.sign
        if sign * src.value >= sign * self.peak + step:
            self.peak = src.value
            self._update(t, "peak", src.values(self.level), out, self.level)

    # -- timers --------------------------------------------------------------------------------

    def open_due(self) -> int:
        """When a pending subject opens: after `for`, after the cooldown, outside quiet hours."""
        policy = self.policy
        due = self.since + policy.for_ns
        if self.resolved_at is not None and policy.cooldown_ns:
            due = max(due, self.resolved_at + policy.cooldown_ns)
        if policy.quiet is not None:
            for _ in range(16):
                if not policy.quiet.inside(due):
                    break
                due = policy.quiet.next_change(due)
        return due

    def clear_due(self) -> int:
        """When a clearing incident resolves (a flapping one waits for a whole quiet flap period)."""
        hold = self.policy.clear_for_ns
        if self.flapping:
            hold = max(hold, self.policy.flap_within_ns)
        return self.since + hold

    def due(self) -> int | None:
        """The next deadline of this lifecycle, if any."""
        phase = self.phase
        if phase == Phase.PENDING:
            return self.open_due()
        if phase == Phase.IDLE:
            return None
        remind = None if self.acked else self.remind_due
        if phase == Phase.CLEARING:
            clear = self.clear_due()
            return clear if remind is None else min(clear, remind)
        return remind

    def fire(self, t: int, out: list[IncidentEvent]) -> None:
        """Act on the deadline due at t (call with t == due())."""
        self.last_t = max(self.last_t, t)
        phase = self.phase
        if phase == Phase.PENDING:
            self._open(t, out)
        elif phase == Phase.CLEARING and self.clear_due() <= t:
            self._resolve(t, "cleared", out)
        elif self.remind_due is not None and self.remind_due <= t:
            self._remind(t, out)

    def _remind(self, t: int, out: list[IncidentEvent]) -> None:
        """Re-send the open incident, or wait for the end of quiet hours."""
        policy = self.policy
        if policy.quiet is not None and policy.quiet.inside(t):
            self.remind_due = policy.quiet.next_change(t)
            return
        self.remind_due = t + (policy.remind_ns or 0)
        self._update(t, "reminder", {}, out, self.inc_level)

    # -- transitions ---------------------------------------------------------------------------

    def _open(self, t: int, out: list[IncidentEvent]) -> None:
        """Open an incident at t, flapping if the subject opened too often lately."""
        policy = self.policy
        if policy.flap_max is not None:
            self.opens = [o for o in self.opens if o > t - policy.flap_within_ns]
            self.flapping = len(self.opens) >= policy.flap_max
            self.opens.append(t)
        values = dict(self.trigger)
        if self.flapping:
            values["flapping"] = True
        self.incident = Incident(
            id=incident_id(policy.gateway_id, policy.rule_id, self.subject, t),
            rule=policy.rule_id,
            subject=self.subject,
            event_type=policy.event_type,
            severity=policy.severities[self.level - 1],
            grid=self.grid,
            opened_ns=t,
            revision=1,
            updated_ns=t,
            values=values,
            evidence=list(self.trigger_evidence),
        )
        self.phase = Phase.OPEN
        self.inc_level = self.level
        self.acked = False
        self.remind_due = t + policy.remind_ns if policy.remind_ns else None
        reason = "flapping" if self.flapping else "condition"
        out.append(IncidentEvent(IncidentEventKind.OPENED, _copy(self.incident), t, reason))

    def _update(self, t: int, reason: str, values: dict[str, FieldValue], out: list[IncidentEvent], level: int) -> None:
        """Send an `updated` event with a new revision."""
        incident = self.incident
        assert incident is not None
        incident.revision += 1
        incident.updated_ns = t
        incident.severity = self.policy.severities[level - 1]
        incident.values.update(values)
        self.inc_level = level
        out.append(IncidentEvent(IncidentEventKind.UPDATED, _copy(incident), t, reason))

    def _resolve(self, t: int, reason: str, out: list[IncidentEvent]) -> None:
        """Resolve the open incident at t and return to idle."""
        incident = self.incident
        assert incident is not None
        incident.revision += 1
        incident.updated_ns = t
        incident.resolved_ns = t
        incident.state = "resolved"
        incident.values.update({f"clear_{k}": v for k, v in self.trigger.items() if k in ("value", "current")})
        if self.verifying:
            incident.values["verification"] = "passed"
            self.verifying = False
        out.append(IncidentEvent(IncidentEventKind.RESOLVED, _copy(incident), t, reason))
        self.incident = None
        self.phase = Phase.IDLE
        self.level = 0
        self.inc_level = 0
        self.flapping = False
        self.remind_due = None
        self.resolved_at = t

    def stop(self, t: int, reason: str, out: list[IncidentEvent]) -> None:
        """Resolve any open incident now (schedule end, rule changed) and forget pending state."""
        t = max(t, self.last_t)
        self.last_t = t
        if self.incident is not None:
            self._resolve(t, reason, out)
        self.phase = Phase.IDLE
        self.level = 0

    def ack(self) -> None:
        """The dispatch platform took the incident: stop reminders."""
        self.acked = True

    def handled(self, t: int, out: list[IncidentEvent]) -> None:
        """The platform reports the incident handled (处置完毕): verify it against the condition (核查).

        Still over the clear level: an `updated` event with verification failed (核查不通过). Already
        clearing: the incident resolves after `clear_for` as usual, carrying verification passed.
        """
        t = max(t, self.last_t)
        if self.incident is None:
            return
        self.acked = True
        if self.phase == Phase.OPEN:
            self._update(t, "verification", {"verification": "failed"}, out, self.inc_level)
        else:
            self.verifying = True

    # -- persistence ---------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """JSON-serialisable state; values still at their idle default are left out (most subjects are idle)."""
        inc = self.incident
        state = {
            "phase": int(self.phase), "level": self.level, "since": self.since, "last_t": self.last_t,
            "trigger": self.trigger, "trigger_evidence": list(self.trigger_evidence), "inc_level": self.inc_level,
            "peak": self.peak, "remind_due": self.remind_due, "acked": self.acked, "resolved_at": self.resolved_at,
            "opens": self.opens, "flapping": self.flapping, "incident": None if inc is None else _dump_incident(inc),
            "verifying": self.verifying,
        }  # fmt: skip
        return {k: v for k, v in state.items() if v != _IDLE[k] or type(v) is not type(_IDLE[k])}

    def load(self, state: dict[str, Any], shift_ns: int) -> None:
        """Restore from `dump`, moving every clock-based deadline `shift_ns` later (downtime is no evidence)."""
        state = {**_IDLE, **state}
        self.phase = Phase(state["phase"])
        self.level = state["level"]
        self.since = state["since"] + shift_ns
        self.last_t = state["last_t"] + shift_ns
        self.trigger = dict(state["trigger"])
        self.trigger_evidence = _evidence(state["trigger_evidence"])
        self.inc_level = state["inc_level"]
        self.peak = state["peak"]
        self.remind_due = None if state["remind_due"] is None else state["remind_due"] + shift_ns
        self.acked = state["acked"]
        self.resolved_at = None if state["resolved_at"] is None else state["resolved_at"] + shift_ns
        self.opens = [o + shift_ns for o in state["opens"]]
        self.flapping = state["flapping"]
        self.verifying = bool(state["verifying"])
        self.incident = None if state["incident"] is None else _load_incident(state["incident"], self.grid)


_IDLE: dict[str, Any] = {
    "phase": 0, "level": 0, "since": 0, "last_t": 0, "trigger": {}, "trigger_evidence": [], "inc_level": 0,
    "peak": 0.0, "remind_due": None, "acked": False, "resolved_at": None, "opens": [], "flapping": False,
    "incident": None, "verifying": False,
}  # fmt: skip
"""A fresh Machine's dumped state: `dump` leaves these values out and `load` fills them in."""


def _evidence(saved: str | list[str] | None) -> tuple[str, ...]:
    """Saved trigger evidence: a list, or one reference or None as states saved before clips had it."""
    if saved is None:
        return ()
    return (saved,) if isinstance(saved, str) else tuple(saved)


def _dump_incident(incident: Incident) -> dict[str, Any]:
    """An incident as JSON-ready data (the grid is re-attached from the subject on load)."""
    return {
        "id": incident.id, "rule": incident.rule, "subject": incident.subject, "event_type": incident.event_type,
        "severity": incident.severity, "opened_ns": incident.opened_ns, "revision": incident.revision,
        "updated_ns": incident.updated_ns, "values": incident.values, "evidence": incident.evidence,
    }  # fmt: skip


def _load_incident(data: dict[str, Any], grid: GridCell | None) -> Incident:
    """Rebuild an open incident from `_dump_incident` data."""
    return Incident(grid=grid, **data)


def resolve_orphan(data: dict[str, Any], grid: GridCell | None, t: int, reason: str) -> IncidentEvent:
    """The resolved event of an open incident whose rule no longer exists as it was."""
    incident = _load_incident(data, grid)
    incident.revision += 1
    incident.updated_ns = incident.resolved_ns = max(t, incident.updated_ns)
    incident.state = "resolved"
    return IncidentEvent(IncidentEventKind.RESOLVED, incident, incident.resolved_ns, reason)
