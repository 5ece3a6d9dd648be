"""Point-in-polygon over GeoJSON cells: holes, multipolygons, outside points, both code paths agree."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.grid import GeoJsonError, GridAreas, _in_ring, _in_small_ring, areas_from_geojson


def square(lon: float, lat: float, half: float) -> list[list[float]]:
    """A closed square ring around (lon, lat)."""
    return [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half],
            [lon - half, lat - half]]  # fmt: skip


def feature(code: str, geometry: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON feature with a code property."""
    return {"type": "Feature", "properties": {"code": code, "name": f"cell {code}"}, "geometry": geometry}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection."""
    return {"type": "FeatureCollection", "features": list(features)}


def areas(*features: dict[str, Any]) -> GridAreas:
    """GridAreas from features that must all be valid."""
    parsed, errors = areas_from_geojson(collection(*features))
    assert errors == []
    return GridAreas([area for _, area in parsed])


HOLED = feature("A", {"type": "Polygon", "coordinates": [square(116.46, 39.92, 0.004), square(116.461, 39.921, 0.001)]})
SPLIT = feature(
    "B",
    {
        "type": "MultiPolygon",
        "coordinates": [[square(116.49, 39.972, 0.002)], [square(116.49, 39.966, 0.002)]],
    },
)


def test_hole_is_outside() -> None:
    grid = areas(HOLED)
    assert grid.locate(39.918, 116.458) == "A"
    assert grid.locate(39.921, 116.461) is None  # in the park (the hole)
    assert grid.locate(39.9222, 116.4622) == "A"  # between hole and edge


def test_multipolygon_parts_and_gap() -> None:
    grid = areas(HOLED, SPLIT)
    assert grid.locate(39.972, 116.49) == "B"
    assert grid.locate(39.966, 116.49) == "B"
    assert grid.locate(39.969, 116.49) is None  # the river between the parts


@pytest.mark.parametrize(
    ("lat", "lon"), [(0, 0), (39.92, 117.0), (-39.92, 116.46), (math.nan, 116.46), (39.9, math.inf)]
)
def test_outside_and_not_finite(lat: float, lon: float) -> None:
    assert areas(HOLED, SPLIT).locate(lat, lon) is None


def test_first_cell_in_file_order_wins_on_overlap() -> None:
    grid = areas(feature("first", {"type": "Polygon", "coordinates": [square(0, 0, 1)]}),
                 feature("second", {"type": "Polygon", "coordinates": [square(0.5, 0, 1)]}))  # fmt: skip
    assert grid.locate(0, 0.2) == "first" and grid.locate(0, 1.3) == "second"


def test_many_cells_use_the_numpy_prefilter() -> None:
    cells = [
        feature(f"{row:02d}{col:02d}", {"type": "Polygon", "coordinates": [square(col * 0.01, row * 0.01, 0.005)]})
        for row in range(12)
        for col in range(12)
    ]
    grid = areas(*cells)
    assert len(grid) == 144
    for row in range(12):
        for col in range(12):
            assert grid.locate(row * 0.01 + 0.001, col * 0.01 - 0.002) == f"{row:02d}{col:02d}"


def circle(points: int) -> list[list[float]]:
    """A closed ring approximating a unit circle; star-shaped by alternating radii for concavity."""
    ring = [
        [math.cos(t) * (1.0 if i % 2 else 0.6), math.sin(t) * (1.0 if i % 2 else 0.6)]
        for i, t in enumerate(np.linspace(0, 2 * math.pi, points, endpoint=False))
    ]
    return [*ring, ring[0]]


def test_large_ring_uses_numpy_and_holes_work() -> None:
    big = feature("C", {"type": "Polygon", "coordinates": [circle(300), square(0, 0, 0.1)]})
    parsed, _ = areas_from_geojson(collection(big))
    exterior = parsed[0][1].polygons[0][0]
    assert isinstance(exterior, np.ndarray)
    grid = GridAreas([area for _, area in parsed])
    assert grid.locate(0.3, 0.0) == "C" and grid.locate(0.0, 0.0) is None and grid.locate(0.0, 1.2) is None


STAR = np.array(circle(200)[:-1], dtype=np.float64)
STAR_TUPLE = tuple((float(x), float(y)) for x, y in STAR)


@given(st.floats(-1.2, 1.2), st.floats(-1.2, 1.2))
def test_numpy_and_python_ray_casting_agree(lon: float, lat: float) -> None:
    assert _in_ring(STAR, lon, lat) == _in_small_ring(STAR_TUPLE, lon, lat)


@pytest.mark.parametrize(
    ("geometry", "words"),
    [
        ({"type": "Point", "coordinates": [116, 39]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": [[[116, 39], [117, 39], [116, 39]]]}, "fewer than 3"),
        ({"type": "Polygon", "coordinates": [[[39, 116], [39, 117], [40, 117], [39, 116]]]}, "outside lon"),
        ({"type": "Polygon", "coordinates": [[["a", 1], [2, 3], [4, 5]]]}, "not a list of [lon, lat]"),
        ({"type": "Polygon", "coordinates": []}, "no rings"),
        (None, "not supported"),
    ],
)
def test_bad_geometries_are_errors(geometry: Any, words: str) -> None:
    parsed, errors = areas_from_geojson(collection(feature("X", geometry), HOLED))
    assert [area.code for _, area in parsed] == ["A"]
    assert len(errors) == 1 and errors[0].feature == 0 and words in str(errors[0])


def test_document_must_be_features() -> None:
    with pytest.raises(GeoJsonError):
        areas_from_geojson({"type": "Polygon", "coordinates": []})
    single, errors = areas_from_geojson(HOLED)
    assert [area.code for _, area in single] == ["A"] and errors == []


def test_custom_code_property() -> None:
    doc = collection({"type": "Feature", "properties": {"WGBM": 110105001001001, "WGMC": "网格"},
                      "geometry": {"type": "Polygon", "coordinates": [square(0, 0, 1)]}})  # fmt: skip
    parsed, errors = areas_from_geojson(doc, "WGBM", "WGMC")
    assert errors == [] and (parsed[0][1].code, parsed[0][1].name) == ("110105001001001", "网格")
