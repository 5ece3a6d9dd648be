"""Device health for the status page: when each device was last heard, and whether it has gone silent.

`observe` is an intake observer: it runs for every accepted reading on the input's thread, so it only
stores the gateway's clock under the device id (one dict store). Health is worked out when asked:

- `ok`: heard within `SILENT_FACTOR` × its reporting interval;
- `silent`: last heard longer ago than that;
- `never_seen`: not heard since the gateway started, and the gateway has been up longer than that;
- `waiting`: not heard yet, but the gateway has not been up that long (no verdict yet);
- `unmonitored`: no reporting interval configured (event-driven devices such as alarms), heard or not.

`silent` and `never_seen` count as silent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from gateway.model import GridCell, Reading

__all__ = ["SILENT_FACTOR", "DeviceHealth", "HealthDevice"]

SILENT_FACTOR = 3.0
"""A device is silent once it has not reported for this many of its intervals."""
SILENT = frozenset({"silent", "never_seen"})
NS = 1_000_000_000


class HealthDevice(Protocol):
    """What health needs of a registry device."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def grid(self) -> GridCell: ...
    @property
    def interval(self) -> float | None: ...


class DeviceHealth:
    """Last-seen times by device id (the gateway's clock, ns) and the health they imply."""

    def __init__(self, clock: Callable[[], int], started_ns: int | None = None) -> None:
        self.clock = clock
        self.started_ns = clock() if started_ns is None else started_ns
        self.last_seen: dict[str, int] = {}

    def observe(self, reading: Reading) -> None:
        """Note a reading's device as heard now (an Intake observer; quarantined unknowns are not kept)."""
        if "quarantine" not in reading.tags:
            self.last_seen[reading.device] = self.clock()

    def health(self, device: HealthDevice, now_ns: int) -> str:
        """ok, silent, never_seen, waiting or unmonitored (see the module docstring)."""
        seen = self.last_seen.get(device.id)
        if not device.interval:
            return "unmonitored"
        limit = device.interval * SILENT_FACTOR * NS
        if seen is not None:
            return "ok" if now_ns - seen <= limit else "silent"
        return "never_seen" if now_ns - self.started_ns > limit else "waiting"

    def row(self, device: HealthDevice, now_ns: int) -> dict[str, Any]:
        """One device as /api/v1/devices shows it."""
        seen = self.last_seen.get(device.id)
        health = self.health(device, now_ns)
        return {
            "id": device.id, "name": device.name, "kind": device.kind, "grid": device.grid.code,
            "grid_name": device.grid.name, "interval_s": device.interval,
            "last_seen_ns": seen, "age_s": None if seen is None else round((now_ns - seen) / NS, 3),
            "health": health, "silent": health in SILENT,
        }  # fmt: skip

    def rows(self, devices: Iterable[HealthDevice], now_ns: int) -> list[dict[str, Any]]:
        """Every device's row, silent ones first, then by id."""
        out = [self.row(device, now_ns) for device in devices]
        out.sort(key=lambda r: (not r["silent"], r["id"]))
        return out

    def states(self, devices: Iterable[HealthDevice], now_ns: int) -> dict[str, str]:
        """Device id -> health, for spotting changes."""
        return {device.id: self.health(device, now_ns) for device in devices}
