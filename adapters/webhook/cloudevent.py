"""Incident events as CloudEvents 1.0 structured JSON: built once, signed and sent as the same bytes.

`type` is `cn.gridedge.incident.<opened|updated|resolved>` (reverse DNS of the project's name),
`source` is `urn:gridedge:gateway:<gateway id>`, `subject` the 15-digit grid code, `id` the
incident id and revision (also the `webhook-id`). `data` follows docs/incident.schema.json.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Final

from gateway.model import FieldValue, Incident, IncidentEvent

__all__ = [
    "CONTENT_TYPE",
    "DATA_SCHEMA",
    "SCHEMA_VERSION",
    "TYPE_PREFIX",
    "build_event",
    "ce_type",
    "encode",
    "event_id",
    "rfc3339",
]

TYPE_PREFIX: Final = "cn.gridedge.incident."
SCHEMA_VERSION: Final = "1.0"
DATA_SCHEMA: Final = "urn:gridedge:schema:incident:1"
CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"
"""The HTTP content type of a structured-mode CloudEvent (CloudEvents HTTP binding 3.2)."""


def event_id(incident_id: str, revision: int) -> str:
    """The event's id and `webhook-id`: stable across retries and restarts."""
    return f"{incident_id}-{revision}"


def ce_type(kind: str) -> str:
    """The CloudEvents `type` of an event kind."""
    return TYPE_PREFIX + kind


def rfc3339(ts_ns: int) -> str:
    """UTC RFC 3339 with microseconds, e.g. 2024-05-01T08:30:00.123456Z (the *_ns fields keep full precision)."""
    moment = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).replace(microsecond=ts_ns // 1000 % 1_000_000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _subject(incident: Incident) -> dict[str, str]:
    """A device, or a camera and zone (detection incidents carry both in their values)."""
    camera, zone = incident.values.get("camera"), incident.values.get("zone")
    if isinstance(camera, str) and isinstance(zone, str):
        return {"kind": "camera", "id": incident.subject, "camera": camera, "zone": zone}
    return {"kind": "device", "id": incident.subject, "device": incident.subject}


def _values(values: dict[str, FieldValue]) -> dict[str, FieldValue | None]:
    """Values as JSON allows: NaN and infinities become null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}


def _grid(incident: Incident) -> dict[str, str] | None:
    """The grid cell with its four levels."""
    grid = incident.grid
    if grid is None:
        return None
    return {"code": grid.code, "name": grid.name, **grid.levels()}


def _times(incident: Incident) -> dict[str, object]:
    """Opening, last update and resolution, as RFC 3339 and as exact ns."""
    resolved = incident.resolved_ns
    return {
        "opened_at": rfc3339(incident.opened_ns), "opened_ns": incident.opened_ns,
        "updated_at": rfc3339(incident.updated_ns or incident.opened_ns), "updated_ns": incident.updated_ns,
        "resolved_at": None if resolved is None else rfc3339(resolved), "resolved_ns": resolved,
    }  # fmt: skip


def build_event(
    event: IncidentEvent, gateway_id: str, routing: dict[str, str], evidence: list[dict[str, object]]
) -> dict[str, object]:
    """The CloudEvent of one incident event, `data` per the schema."""
    inc = event.incident
    verification = inc.values.get("verification")
    data: dict[str, object] = {
        "schema_version": SCHEMA_VERSION, "gateway": gateway_id, "incident_id": inc.id, "revision": inc.revision,
        "event": event.kind.value, "reason": event.reason, "state": inc.state, "rule": inc.rule,
        "event_type": inc.event_type, "severity": inc.severity, "grid": _grid(inc), "subject": _subject(inc),
        "location": None if inc.location is None else {"lat": inc.location[0], "lon": inc.location[1]},
        "values": _values(inc.values), **_times(inc), "evidence": evidence, "routing": routing,
        "verification": verification if isinstance(verification, str) else None,
    }  # fmt: skip
    cloud: dict[str, object] = {
        "specversion": "1.0",
        "id": event_id(inc.id, inc.revision),
        "source": f"urn:gridedge:gateway:{gateway_id}",
        "type": ce_type(event.kind.value),
    }
    if inc.grid is not None:  # CloudEvents: subject, when present, is non-empty
        cloud["subject"] = inc.grid.code
    cloud.update(time=rfc3339(event.ts_ns), datacontenttype="application/json", dataschema=DATA_SCHEMA, data=data)
    return cloud


def encode(cloud_event: dict[str, object]) -> bytes:
    """The exact bytes that are stored, signed and sent: compact UTF-8 JSON."""
    return json.dumps(cloud_event, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
