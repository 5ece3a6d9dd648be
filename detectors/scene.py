"""Where a camera looks: its zones (polygons mapped to grid cells) and masks (areas ignored)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from gateway.model import GridCell

Point = tuple[int, int]
Polygon = tuple[Point, ...]
BoolMask = npt.NDArray[np.bool_]

WHOLE_FRAME = "frame"
"""The name of the implicit zone covering the whole frame when a camera configures none."""


@dataclass(frozen=True, slots=True)
class Zone:
    """A polygon in frame coordinates, the grid cell it overlooks and the detectors that watch it.

    An empty `detectors` set means every detector of the camera watches the zone.
    """

    name: str
    polygon: Polygon
    grid: GridCell | None = None
    detectors: frozenset[str] = frozenset()

    def watched_by(self, detector: str) -> bool:
        """Whether the named detector looks at this zone."""
        return not self.detectors or detector in self.detectors


@dataclass(frozen=True, slots=True)
class Scene:
    """One camera's frame geometry: size of the frames given to detectors, zones and ignored masks."""

    camera: str
    width: int
    height: int
    grid: GridCell | None = None
    zones: tuple[Zone, ...] = ()
    masks: tuple[Polygon, ...] = ()

    def zones_for(self, detector: str) -> tuple[Zone, ...]:
        """The zones the detector watches; the whole frame (camera's grid cell) when none is configured."""
        if not self.zones:
            corners: Polygon = ((0, 0), (self.width, 0), (self.width, self.height), (0, self.height))
            return (Zone(WHOLE_FRAME, corners, self.grid),)
        return tuple(z for z in self.zones if z.watched_by(detector))

    def zone_masks(self, zones: tuple[Zone, ...], size: tuple[int, int]) -> tuple[BoolMask, ...]:
        """Each zone rasterised at a working size (w, h), with the ignored masks cut out."""
        ignore = self.ignore_mask(size)
        scale = (size[0] / self.width, size[1] / self.height)
        return tuple(_fill(z.polygon, size, scale) & ~ignore for z in zones)

    def ignore_mask(self, size: tuple[int, int]) -> BoolMask:
        """The union of the masks (areas never analysed) at a working size (w, h)."""
        scale = (size[0] / self.width, size[1] / self.height)
        out = np.zeros((size[1], size[0]), dtype=bool)
        for polygon in self.masks:
            out |= _fill(polygon, size, scale)
        return out


def _fill(polygon: Polygon, size: tuple[int, int], scale: tuple[float, float]) -> BoolMask:
    """Rasterise one polygon, scaled from frame to working coordinates."""
    return _fill_cached(polygon, size, scale).copy()


@lru_cache(maxsize=256)
def _fill_cached(polygon: Polygon, size: tuple[int, int], scale: tuple[float, float]) -> BoolMask:
    """Rasterise once per (polygon, size): zones are fixed for a camera's life."""
    canvas = np.zeros((size[1], size[0]), dtype=np.uint8)
    pts = np.array([[round(x * scale[0]), round(y * scale[1])] for x, y in polygon], dtype=np.int32)
    cv2.fillPoly(canvas, [pts], 1)
    return canvas.astype(bool)
