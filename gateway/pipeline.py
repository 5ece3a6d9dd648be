"""The intake: tags what inputs submit with its device and grid cell, checks it, and journals it.

This is the `ReadingSink` every input hands readings and rejects to. It runs on the input's
thread and only enqueues: the journal's committer makes the batch durable and then acks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from gateway.journal import Journal
from gateway.model import Ack, GridCell, Reading, RejectReason
from gateway.model.lineproto import encode_line, reading_tags, series_key

log = logging.getLogger("gridedge.intake")

PREFIX_CACHE_MAX = 200_000


class DeviceInfo(Protocol):
    """What the intake needs of a registered device."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def grid(self) -> GridCell: ...
    @property
    def scale(self) -> Mapping[str, float]: ...
    @property
    def tags(self) -> Mapping[str, str]: ...


class DeviceDirectory(Protocol):
    """The device registry as the intake uses it."""

    def device(self, device_id: str) -> DeviceInfo | None: ...
    def locate(self, lat: float, lon: float) -> GridCell | None: ...


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    """What to do with unknown devices and device clocks that are far off."""

    unknown_policy: Literal["reject", "quarantine"] = "reject"
    quarantine_grid: GridCell | None = None
    max_clock_skew_s: float = 3600.0
    skew_policy: Literal["reject", "clamp"] = "reject"


@dataclass(slots=True)
class IntakeStats:
    """Counts of what came in, by outcome."""

    accepted: int = 0
    quarantined: int = 0
    clamped: int = 0
    rejected: Counter[str] | None = None


class Intake:
    """Tag, check and journal readings; count and dead-letter rejects."""

    def __init__(
        self,
        directory: DeviceDirectory,
        journal: Journal,
        settings: IntakeSettings | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.directory = directory
        self.journal = journal
        self.settings = settings or IntakeSettings()
        self.clock = clock
        self.stats = IntakeStats(rejected=Counter())
        self._skew_ns = int(self.settings.max_clock_skew_s * 1e9)
        self._prefixes: dict[tuple[object, ...], str] = {}
        self._lock = threading.Lock()  # inputs submit from several threads (paho's, the event loop's)
        self.observers: list[Callable[[Reading], None]] = []

    def submit(self, reading: Reading) -> None:
        """Tag a reading with its device's cell, check it, and enqueue it for the next group commit."""
        with self._lock:
            if not self._tag(reading) or not self._check_time(reading):
                return
            key = (reading.device, reading.kind, reading.grid.code if reading.grid else "", *reading.tags.items())
            prefix = self._prefixes.get(key)
            if prefix is None:
                if len(self._prefixes) > PREFIX_CACHE_MAX:
                    self._prefixes.clear()
                prefix = self._prefixes[key] = series_key(reading.kind, reading_tags(reading))
            line = encode_line(prefix, reading.fields, reading.ts_ns)
            self.journal.append(reading.ts_ns, reading.device, reading.kind, line, reading.ack, reading)
            self.stats.accepted += 1
        for observe in self.observers:
            observe(reading)

    def reject(self, source: str, reason: RejectReason, detail: str, raw: bytes, ack: Ack | None = None) -> None:
        """Count a rejection by reason and keep it in the dead-letter table; `ack` runs after its commit."""
        assert self.stats.rejected is not None
        self.stats.rejected[reason.value] += 1
        log.debug("rejected %s from %s: %s", reason.value, source, detail)
        self.journal.dead_letter(source, reason.value, detail, raw, ack)

    def _tag(self, reading: Reading) -> bool:
        device = self.directory.device(reading.device)
        if device is None:
            return self._unknown(reading)
        reading.device = device.id  # an alias (HJ 212 MN, SL 651 address) resolves to the registry id
        reading.kind = reading.kind or device.kind
        reading.grid = device.grid
        for name, factor in device.scale.items():
            value = reading.fields.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                reading.fields[name] = value * factor
        if device.tags:
            reading.tags = {**device.tags, **reading.tags}
        self._place(reading)
        if not reading.kind:
            detail = "no kind in topic, payload or registry"
            self.reject(_source(reading), RejectReason.MALFORMED, detail, _raw(reading), reading.ack)
            return False
        return True

    def _unknown(self, reading: Reading) -> bool:
        settings = self.settings
        detail = f"device {reading.device!r} is not in the registry"
        if settings.unknown_policy == "reject" or settings.quarantine_grid is None or not reading.kind:
            self.reject(_source(reading), RejectReason.UNKNOWN_DEVICE, detail, _raw(reading), reading.ack)
            return False
        reading.grid = settings.quarantine_grid
        reading.tags["quarantine"] = "true"
        self.stats.quarantined += 1
        return True

    def _place(self, reading: Reading) -> None:
        """A device that reports its position is placed in the cell whose polygon holds it."""
        if "lat" not in reading.fields:
            return
        lat = reading.numeric("lat")
        lon = reading.numeric("lon")
        if lat is None or lon is None:
            return
        cell = self.directory.locate(lat, lon)
        if cell is not None:
            reading.grid = cell

    def _check_time(self, reading: Reading) -> bool:
        now = self.clock()
        if abs(reading.ts_ns - now) <= self._skew_ns:
            return True
        if self.settings.skew_policy == "clamp":
            reading.ts_ns = now
            self.stats.clamped += 1
            return True
        skew = (reading.ts_ns - now) / 1e9
        detail = f"device time is {skew:+.0f}s from the gateway's; the limit is ±{self.settings.max_clock_skew_s:.0f}s"
        self.reject(_source(reading), RejectReason.CLOCK_SKEW, detail, _raw(reading), reading.ack)
        return False


def _source(reading: Reading) -> str:
    return f"device:{reading.device}"


def _raw(reading: Reading) -> bytes:
    return f"{reading.kind} {reading.device} {reading.fields} {reading.ts_ns}".encode()
