"""The device and grid registry: device id or alias -> Device, code -> GridCell, (lat, lon) -> GridCell."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeVar, cast

from gateway.grid import GridAreas
from gateway.model import GridCell

__all__ = ["Device", "Registry", "shared_mapping"]

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_EMPTY_SCALE: Final[Mapping[str, float]] = MappingProxyType({})
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Device:
    """One registered device: what it measures, where it belongs, how its values are read.

    `units`, `scale` and `tags` are read-only mappings, shared between devices that have equal ones
    (10,000 devices of a few models cost a few mappings, not 30,000).
    """

    id: str
    kind: str
    grid: GridCell
    device_class: str = ""
    name: str = ""
    units: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Field -> unit, e.g. {"pm10": "ug/m3"}."""
    scale: Mapping[str, float] = field(default_factory=lambda: _EMPTY_SCALE)
    """Field -> factor applied to the raw value (unit conversion); absent = 1."""
    location: tuple[float, float] | None = None
    """(lat, lon) of a fixed device, WGS 84."""
    interval: float | None = None
    """Expected seconds between reports (silence rules use it); None = not expected to report regularly."""
    aliases: tuple[str, ...] = ()
    """Other ids the device reports under: an HJ 212 MN, an SL 651 station address…"""
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Extra tags written with every reading (site, vendor…)."""


class _Interner:
    """Hands out one shared read-only mapping per distinct content."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[tuple[tuple[str, object], ...], Mapping[str, object]] = {}

    def __call__(self, mapping: Mapping[str, V]) -> Mapping[str, V]:
        """The shared read-only mapping equal to `mapping`."""
        if not mapping:
            return cast(Mapping[str, V], _EMPTY)
        key = tuple(sorted(mapping.items()))
        shared = self._seen.get(key)
        if shared is None:
            shared = self._seen[key] = MappingProxyType(dict(key))
        return cast(Mapping[str, V], shared)


shared_mapping = _Interner()
"""Intern a units/scale/tags mapping so devices with equal ones share it (read-only)."""


class Registry:
    """Devices by id and alias (O(1)), grid cells by code, and point-in-polygon placement."""

    __slots__ = ("_areas", "_by_name", "_cells", "_devices")

    def __init__(
        self,
        devices: Iterable[Device] = (),
        cells: Iterable[GridCell] = (),
        areas: GridAreas | None = None,
    ) -> None:
        self._devices: tuple[Device, ...] = tuple(devices)
        self._cells: dict[str, GridCell] = {}
        for cell in cells:
            if cell.code in self._cells:
                raise ValueError(f"grid cell {cell.code} is listed twice")
            self._cells[cell.code] = cell
        self._by_name: dict[str, Device] = {}
        for device in self._devices:
            for name in (device.id, *device.aliases):
                other = self._by_name.setdefault(name, device)
                if other is not device:
                    raise ValueError(f"device id or alias {name!r} is used by both {other.id!r} and {device.id!r}")
        self._areas = areas or GridAreas(())

    def __len__(self) -> int:
        return len(self._devices)

    def device(self, name: str) -> Device | None:
        """The device with this id or alias, or None when it is not registered."""
        return self._by_name.get(name)

    def cell(self, code: str) -> GridCell | None:
        """The grid cell with this code, or None when it is not configured."""
        return self._cells.get(code)

    def locate(self, lat: float, lon: float) -> GridCell | None:
        """The grid cell whose polygon contains (lat, lon), or None when none does."""
        code = self._areas.locate(lat, lon)
        return None if code is None else self._cells.get(code) or GridCell(code)

    def devices(self) -> Sequence[Device]:
        """Every device, in file order."""
        return self._devices

    def cells(self) -> Sequence[GridCell]:
        """Every grid cell, in file order."""
        return tuple(self._cells.values())

    @property
    def areas(self) -> GridAreas:
        """The cells' polygons (empty when no GeoJSON is configured)."""
        return self._areas
