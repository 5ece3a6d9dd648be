"""What the engine needs to know about a device: the registry's Device satisfies this Protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gateway.model import GridCell, Reading


class DeviceInfo(Protocol):
    """A device or camera as the rules see it (the gateway registry's Device has these attributes)."""

    @property
    def id(self) -> str:
        """The device id readings carry."""

    @property
    def kind(self) -> str:
        """What it measures: dust, water, fire, camera…"""

    @property
    def device_class(self) -> str:
        """The model or class operators group override thresholds by."""

    @property
    def grid(self) -> GridCell | None:
        """The grid cell it belongs to."""

    @property
    def interval(self) -> float | None:
        """Its expected reporting interval in seconds, when known (for silence rules)."""

    @property
    def tags(self) -> Mapping[str, str]:
        """Free-form tags selectors can match."""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A plain DeviceInfo for tests, backtests and readings from devices the registry does not know."""

    id: str
    kind: str = ""
    device_class: str = ""
    grid: GridCell | None = None
    interval: float | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def device_of(reading: Reading) -> DeviceSpec:
    """A DeviceSpec built from what a reading carries, for devices with no registry entry."""
    return DeviceSpec(id=reading.device, kind=reading.kind, grid=reading.grid, tags=dict(reading.tags))
