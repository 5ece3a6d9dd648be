"""The shared vocabulary of GridEdge: grid cells, readings, detections, incidents, rejections.

This package imports nothing else of the project; every other part imports from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol

__all__ = [
    "Ack",
    "Box",
    "Detection",
    "FieldValue",
    "GridCell",
    "Incident",
    "IncidentEvent",
    "IncidentEventKind",
    "Reading",
    "ReadingSink",
    "RejectReason",
    "Rejected",
]

FieldValue = float | int | bool | str
"""A reading's field value. Numbers are the norm; bools for alarm states, short strings for data flags."""

Ack = Callable[[], None]
"""Acknowledges a reading to its source (MQTT PUBACK, HJ 212 9014) once it is durable."""

_GRID_RE: Final = re.compile(r"^\d{14,15}$")


@dataclass(frozen=True, slots=True)
class GridCell:
    """A unit grid cell (单元网格): district 6 + street 3 + community 3 + grid 3 digits (or 2, older form)."""

    code: str
    name: str = ""

    def __post_init__(self) -> None:
        if not _GRID_RE.match(self.code):
            raise ValueError(
                f"grid code {self.code!r} must be 15 digits (district 6 + street 3 + community 3 + grid 3) "
                "or the older 14-digit form"
            )

    @property
    def district(self) -> str:
        """The 6-digit district (区县) code, GB/T 2260."""
        return self.code[:6]

    @property
    def street(self) -> str:
        """The 9-digit street (街道) prefix."""
        return self.code[:9]

    @property
    def community(self) -> str:
        """The 12-digit community (社区) prefix."""
        return self.code[:12]

    def levels(self) -> dict[str, str]:
        """The four levels as tags: district, street, community and grid."""
        return {"district": self.district, "street": self.street, "community": self.community, "grid": self.code}

    def within(self, prefix: str) -> bool:
        """Whether this cell lies under a grid-code prefix (a whole district, street or community)."""
        return self.code.startswith(prefix)


@dataclass(slots=True)
class Reading:
    """One report of one device: numeric/bool fields at one instant, tagged with its grid cell.

    `ts_ns` is the sensor's own time when it sends one, else the receive time. `ack` is called once
    the reading is committed to the journal; it is never journaled itself.
    """

    device: str
    kind: str
    ts_ns: int
    fields: dict[str, FieldValue]
    grid: GridCell | None = None
    tags: dict[str, str] = field(default_factory=dict)
    ack: Ack | None = None

    def numeric(self, name: str) -> float | None:
        """The field as a finite float, or None when absent or not numeric."""
        value = self.fields.get(name)
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        return None


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in frame pixel coordinates, with an optional label."""

    x: int
    y: int
    w: int
    h: int
    label: str = ""
    score: float = 1.0


@dataclass(slots=True)
class Detection:
    """What a detector saw in one frame of one camera: a score, boxes and an annotated JPEG snapshot."""

    camera: str
    detector: str
    zone: str
    ts_ns: int
    score: float
    boxes: list[Box] = field(default_factory=list)
    grid: GridCell | None = None
    snapshot: bytes | None = None
    values: dict[str, float] = field(default_factory=dict)
    """Extra measures a detector reports: water level, covered fraction, person count…"""
    clip: str | None = None
    """The evidence reference of the pre/post clip of this detection's episode (`clip:<camera>/<ts_ns>`)."""


class IncidentEventKind(StrEnum):
    """The lifecycle events of an incident."""

    OPENED = "opened"
    UPDATED = "updated"
    RESOLVED = "resolved"


@dataclass(slots=True)
class Incident:
    """One open or closed incident of one rule on one subject (a device, or a camera and zone)."""

    id: str
    rule: str
    subject: str
    event_type: str
    severity: str
    grid: GridCell | None
    opened_ns: int
    revision: int = 0
    state: str = "open"
    updated_ns: int = 0
    resolved_ns: int | None = None
    values: dict[str, FieldValue] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    location: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """An event of an incident's lifecycle as it goes to the outbox: a snapshot of the incident."""

    kind: IncidentEventKind
    incident: Incident
    ts_ns: int
    reason: str = ""


class RejectReason(StrEnum):
    """Why an input was rejected; each reason is counted and kept in the dead-letter table."""

    MALFORMED = "malformed"
    BAD_UTF8 = "bad_utf8"
    WRONG_TYPE = "wrong_type"
    NON_FINITE = "non_finite"
    OVERSIZE = "oversize"
    NO_TEMPLATE = "no_template"
    UNKNOWN_DEVICE = "unknown_device"
    NO_FIELDS = "no_fields"
    CLOCK_SKEW = "clock_skew"
    BAD_CRC = "bad_crc"
    BAD_PASSWORD = "bad_password"


class Rejected(Exception):  # noqa: N818 - reads as "raise Rejected(...)"
    """An input the gateway refuses, with a counted reason and a human-readable detail."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class ReadingSink(Protocol):
    """Where inputs hand what they receive: the gateway tags, journals, then calls each `ack` in order.

    Both calls only enqueue (they are cheap and never block on I/O); a reading's `ack` and a
    rejection's `ack` run after the group commit that made them durable, in submission order.
    """

    def submit(self, reading: Reading) -> None:
        """Take a reading (device id and kind set; the gateway finds its grid cell)."""

    def reject(self, source: str, reason: RejectReason, detail: str, raw: bytes, ack: Ack | None = None) -> None:
        """Count and dead-letter an input that cannot become a reading, then acknowledge it."""
