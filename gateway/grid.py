"""Place a point in a grid cell: point-in-polygon over GeoJSON Polygon/MultiPolygon cells, holes included."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Area", "GeoJsonError", "GridAreas", "areas_from_geojson"]

Ring = npt.NDArray[np.float64] | tuple[tuple[float, float], ...]
"""A ring of lon, lat positions (not repeated at the end): an (n, 2) array when long, else a tuple (faster)."""

_NUMPY_RING = 64
"""Rings with more vertices than this are tested with numpy; shorter ones in plain Python, which is faster there."""
_NUMPY_BOXES = 32
"""With more cells than this, the bounding-box prefilter runs in numpy."""


class GeoJsonError(ValueError):
    """A GeoJSON feature that cannot be used as a grid cell; `feature` is its index (-1 for the document)."""

    def __init__(self, feature: int, message: str) -> None:
        super().__init__(message)
        self.feature = feature


@dataclass(frozen=True, slots=True)
class Area:
    """One cell's shape: polygons, each an exterior ring with holes, in lon/lat degrees."""

    code: str
    name: str
    polygons: tuple[tuple[Ring, tuple[Ring, ...]], ...]

    def bbox(self) -> tuple[float, float, float, float]:
        """min lon, min lat, max lon, max lat over the exterior rings."""
        points = np.concatenate([np.asarray(exterior, dtype=np.float64) for exterior, _ in self.polygons])
        low, high = points.min(axis=0), points.max(axis=0)
        return (float(low[0]), float(low[1]), float(high[0]), float(high[1]))

    def contains(self, lon: float, lat: float) -> bool:
        """Whether the point is inside one polygon's exterior and outside all its holes."""
        return any(
            _in_ring(exterior, lon, lat) and not any(_in_ring(hole, lon, lat) for hole in holes)
            for exterior, holes in self.polygons
        )


def _in_ring(ring: Ring, lon: float, lat: float) -> bool:
    """Even-odd ray casting: does a ray east from the point cross the ring an odd number of times?"""
    if isinstance(ring, tuple):
        return _in_small_ring(ring, lon, lat)
    x1, y1 = ring[:, 0], ring[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    spans = (y1 > lat) != (y2 > lat)
    if not spans.any():
        return False
    x1, y1, x2, y2 = x1[spans], y1[spans], x2[spans], y2[spans]
    crossing = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
    return bool(np.count_nonzero(lon < crossing) % 2)


def _in_small_ring(ring: tuple[tuple[float, float], ...], lon: float, lat: float) -> bool:
    """Ray casting in plain Python for short rings."""
    inside = False
    x2, y2 = ring[-1]
    for x1, y1 in ring:
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
        x2, y2 = x1, y1
    return inside


class GridAreas:
    """Cells' polygons with a bounding-box prefilter; the first cell (in file order) containing a point wins."""

    __slots__ = ("_areas", "_box_list", "_boxes")

    def __init__(self, areas: Sequence[Area]) -> None:
        self._areas = tuple(areas)
        self._box_list = [area.bbox() for area in self._areas]
        self._boxes = np.array(self._box_list, dtype=np.float64).reshape(-1, 4)

    def __len__(self) -> int:
        return len(self._areas)

    def areas(self) -> tuple[Area, ...]:
        """Every area, in file order."""
        return self._areas

    def locate(self, lat: float, lon: float) -> str | None:
        """The code of the cell containing (lat, lon), or None when no cell does (or the point is not finite)."""
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        for index in self._candidates(lat, lon):
            area = self._areas[index]
            if area.contains(lon, lat):
                return area.code
        return None

    def _candidates(self, lat: float, lon: float) -> Iterable[int]:
        """Indexes of the cells whose bounding box holds the point, in file order."""
        if len(self._box_list) <= _NUMPY_BOXES:
            return [i for i, (x0, y0, x1, y1) in enumerate(self._box_list) if x0 <= lon <= x1 and y0 <= lat <= y1]
        boxes = self._boxes
        mask = (boxes[:, 0] <= lon) & (lon <= boxes[:, 2]) & (boxes[:, 1] <= lat) & (lat <= boxes[:, 3])
        return [int(i) for i in np.flatnonzero(mask)]


def _ring(raw: Any, where: str) -> Ring:
    """A validated ring: at least 3 distinct positions of finite [lon, lat] in range; closing point dropped."""
    try:
        ring: npt.NDArray[np.float64] = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where} is not a list of [lon, lat] positions") from None
    if ring.ndim != 2 or ring.shape[1] < 2:
        raise ValueError(f"{where} is not a list of [lon, lat] positions")
    ring = ring[:, :2]
    if len(ring) > 1 and np.array_equal(ring[0], ring[-1]):
        ring = ring[:-1]
    if len(ring) < 3:
        raise ValueError(f"{where} has fewer than 3 distinct positions; a ring needs at least 4 with the closing one")
    if not np.isfinite(ring).all() or (np.abs(ring[:, 0]) > 180).any() or (np.abs(ring[:, 1]) > 90).any():
        raise ValueError(f"{where} has a position outside lon -180..180 / lat -90..90 (GeoJSON is [lon, lat])")
    if len(ring) <= _NUMPY_RING:
        return tuple((float(x), float(y)) for x, y in ring)
    return ring


def _polygon(raw: Any, where: str) -> tuple[Ring, tuple[Ring, ...]]:
    """One GeoJSON Polygon's coordinates: an exterior ring then holes."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where} has no rings")
    rings = [_ring(ring, f"{where} ring {index}") for index, ring in enumerate(raw)]
    return rings[0], tuple(rings[1:])


def _geometry(geometry: Any) -> tuple[tuple[Ring, tuple[Ring, ...]], ...]:
    """The polygons of a Polygon or MultiPolygon geometry."""
    kind = geometry.get("type") if isinstance(geometry, Mapping) else None
    coordinates = geometry.get("coordinates") if isinstance(geometry, Mapping) else None
    if kind == "Polygon":
        return (_polygon(coordinates, "polygon"),)
    if kind == "MultiPolygon" and isinstance(coordinates, list) and coordinates:
        return tuple(_polygon(poly, f"polygon {index}") for index, poly in enumerate(coordinates))
    raise ValueError(f"geometry type {kind!r} is not supported; use Polygon or MultiPolygon with coordinates")


def _features(document: Any) -> list[Any]:
    """The features of a FeatureCollection (or a single Feature)."""
    if isinstance(document, Mapping) and document.get("type") == "FeatureCollection":
        features = document.get("features")
        if isinstance(features, list):
            return features
    if isinstance(document, Mapping) and document.get("type") == "Feature":
        return [document]
    raise GeoJsonError(-1, "the file is not a GeoJSON FeatureCollection or Feature; export the cells as one")


def areas_from_geojson(
    document: Any, code_property: str = "code", name_property: str = "name"
) -> tuple[list[tuple[int, Area]], list[GeoJsonError]]:
    """Parse (feature index, area) pairs from a GeoJSON document; bad features come back as errors."""
    areas: list[tuple[int, Area]] = []
    errors: list[GeoJsonError] = []
    for index, feature in enumerate(_features(document)):
        properties = feature.get("properties") if isinstance(feature, Mapping) else None
        code = properties.get(code_property) if isinstance(properties, Mapping) else None
        if not isinstance(code, str | int) or isinstance(code, bool):
            errors.append(GeoJsonError(index, f"feature {index} has no property {code_property!r} with the grid code"))
            continue
        try:
            polygons = _geometry(feature.get("geometry"))
        except ValueError as exc:
            errors.append(GeoJsonError(index, f"feature {index} ({code}): {exc}"))
            continue
        name = properties.get(name_property, "") if isinstance(properties, Mapping) else ""
        areas.append((index, Area(str(code), str(name or ""), polygons)))
    return areas, errors
