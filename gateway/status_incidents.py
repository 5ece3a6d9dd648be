"""The status page's view of incidents: open ones and recently resolved ones, mirrored from the rule engine.

The board is fed by a RuleRunner emitter (the journal's committer thread, inside the transaction that
changed the rule state) and seeded once from the engine, so it always equals the engine's open set.
API handlers read it from the event loop; a lock keeps the two apart. Incident events are rare (a few a
minute), so mirroring them costs nothing on the reading path.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from gateway.clips import CLIP_PREFIX, clip_url
from gateway.model import Incident, IncidentEvent, IncidentEventKind

__all__ = ["IncidentBoard", "IncidentFilter", "incident_json"]

RECENT_MAX = 200
"""Resolved incidents kept for the page (oldest dropped first)."""
SNAPSHOT_PREFIX = "snapshot:"
STATES = frozenset({"open", "resolved", "all"})


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """What /api/v1/incidents narrows by: a grid-code prefix, an event type code, a state."""

    grid: str = ""
    event_type: str = ""
    state: str = "all"
    limit: int = 500

    def keeps(self, incident: Incident) -> bool:
        """Whether an incident passes every criterion."""
        if self.grid and (incident.grid is None or not incident.grid.within(self.grid)):
            return False
        if self.event_type and incident.event_type != self.event_type:
            return False
        return self.state in ("all", incident.state)


def _copy(incident: Incident) -> Incident:
    """A copy the engine can no longer change."""
    return replace(incident, values=dict(incident.values), evidence=list(incident.evidence))


class IncidentBoard:
    """Open incidents by id, recently resolved ones, and counts of opened/resolved by event type."""

    def __init__(self, recent_max: int = RECENT_MAX) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Incident] = {}
        self._recent: deque[Incident] = deque(maxlen=recent_max)
        self.opened: Counter[str] = Counter()
        """Incidents opened since start, by event type."""
        self.resolved: Counter[str] = Counter()
        """Incidents resolved since start, by event type."""
        self.updated: Counter[str] = Counter()

    def seed(self, incidents: Iterable[Incident]) -> None:
        """Replace the open set with the engine's (at attach time, on the committer thread)."""
        with self._lock:
            self._open = {inc.id: _copy(inc) for inc in incidents if inc.state == "open"}

    def apply(self, events: Sequence[IncidentEvent]) -> None:
        """Follow a batch of incident events (a RuleRunner emitter calls this)."""
        with self._lock:
            for event in events:
                incident = _copy(event.incident)
                if event.kind == IncidentEventKind.RESOLVED:
                    self._open.pop(incident.id, None)
                    self._recent.append(incident)
                    self.resolved[incident.event_type] += 1
                    continue
                self._open[incident.id] = incident
                counter = self.opened if event.kind == IncidentEventKind.OPENED else self.updated
                counter[incident.event_type] += 1

    def get(self, incident_id: str) -> Incident | None:
        """An open or recently resolved incident by id."""
        with self._lock:
            found = self._open.get(incident_id)
            return found or next((inc for inc in reversed(self._recent) if inc.id == incident_id), None)

    def query(self, what: IncidentFilter) -> list[Incident]:
        """Open then resolved incidents that pass the filter, newest change first within each."""
        with self._lock:
            open_ = sorted(self._open.values(), key=lambda i: i.updated_ns, reverse=True)
            done = sorted(self._recent, key=lambda i: i.updated_ns, reverse=True)
        return [inc for inc in (*open_, *done) if what.keeps(inc)][: what.limit]

    def open_by_type(self) -> Counter[str]:
        """Open incidents now, by event type."""
        with self._lock:
            return Counter(inc.event_type for inc in self._open.values())


def _iso(ns: int | None) -> str | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="seconds")


def incident_json(incident: Incident, label: Callable[[str], str] | None = None) -> dict[str, Any]:
    """An incident as the JSON API and SSE events show it."""
    grid = incident.grid
    return {
        "id": incident.id, "rule": incident.rule, "subject": incident.subject,
        "event_type": incident.event_type, "event_type_label": label(incident.event_type) if label else "",
        "severity": incident.severity, "state": incident.state, "revision": incident.revision,
        "grid": grid.code if grid else None, "grid_name": grid.name if grid else "",
        "levels": grid.levels() if grid else None,
        "opened_ns": incident.opened_ns, "updated_ns": incident.updated_ns, "resolved_ns": incident.resolved_ns,
        "opened_at": _iso(incident.opened_ns), "updated_at": _iso(incident.updated_ns),
        "resolved_at": _iso(incident.resolved_ns),
        "values": incident.values,
        "evidence": [e for e in incident.evidence if not e.startswith((SNAPSHOT_PREFIX, CLIP_PREFIX))],
        "has_snapshot": any(e.startswith(SNAPSHOT_PREFIX) for e in incident.evidence),
        "clip": next((clip_url(e) for e in incident.evidence if e.startswith(CLIP_PREFIX)), None),
        "location": list(incident.location) if incident.location else None,
    }  # fmt: skip
