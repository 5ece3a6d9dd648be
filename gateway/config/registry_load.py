"""Build the Registry from the device and grid files, checking ids, aliases and device -> cell references."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config.cell_files import read_cell_file, read_geojson
from gateway.config.device_files import Row, read_device_file
from gateway.config.explain import Locate
from gateway.config.problems import Problem
from gateway.config.schema import DevicesConfig, GridsConfig
from gateway.grid import Area, GridAreas
from gateway.model import GridCell
from gateway.registry import Device, Registry, shared_mapping

__all__ = ["display_path", "load_registry"]


def display_path(path: Path) -> str:
    """A path as problems show it: relative to the working directory when it is below it."""
    try:
        return os.path.relpath(path) if path.is_absolute() and not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


@dataclass(slots=True)
class _Cells:
    """Cells by code with where each was written, and the polygons."""

    cells: dict[str, GridCell] = field(default_factory=dict)
    where: dict[str, tuple[str, int]] = field(default_factory=dict)
    areas: list[Area] = field(default_factory=list)
    from_yaml: bool = False


def _load_cells(grids: GridsConfig, problems: list[Problem]) -> _Cells:
    """Cells from the YAML files, then polygons (and cells named only there) from the GeoJSON files."""
    found = _Cells()
    for path in grids.files:
        file = display_path(path)
        rows, bad = read_cell_file(path, file)
        problems += bad
        for row in rows:
            code = row.spec.code
            if code in found.where:
                first = found.where[code]
                problems.append(
                    Problem(file, row.line, "code", f"cell {code} is also at {first[0]}:{first[1]}; keep one")
                )
                continue
            found.cells[code] = GridCell(code, row.spec.name)
            found.where[code] = (file, row.line)
            found.from_yaml = True
    for path in grids.geojson:
        file = display_path(path)
        located, bad = read_geojson(path, file, grids.code_property, grids.name_property)
        problems += bad
        for area, line in located:
            if area.code not in found.cells:
                if found.from_yaml:
                    problems.append(_unknown_cell(file, line, f"{grids.code_property}", area.code, found.cells))
                    continue
                found.cells[area.code] = GridCell(area.code, area.name)
                found.where[area.code] = (file, line)
            found.areas.append(area)
    return found


def _unknown_cell(file: str, line: int, key: str, code: str, cells: dict[str, GridCell]) -> Problem:
    """A problem for a reference to a grid cell that is not configured."""
    close = difflib.get_close_matches(code, list(cells), n=1, cutoff=0.8)
    hint = f"did you mean {close[0]}? " if close else ""
    return Problem(file, line, key, f"grid cell {code} is not in the grids files; {hint}add it there or fix the code")


def _check_placement(row: Row, areas: GridAreas, notes: list[Problem]) -> None:
    """Note a device whose location lies in another cell than its grid (a likely typo in one of them)."""
    spec = row.spec
    code = areas.locate(*spec.location) if spec.location is not None and spec.grid is not None else None
    if code is not None and code != spec.grid:
        notes.append(
            Problem(
                row.file,
                row.line_of("location"),
                f"{spec.id}.location",
                f"lies in cell {code} but grid is {spec.grid}; fix the location or the grid",
            )
        )


def _device_grid(row: Row, found: _Cells, areas: GridAreas, problems: list[Problem]) -> GridCell | None:
    """The device's cell: its grid code (which must be known when cells are configured), else its location's cell."""
    spec = row.spec
    if spec.grid is not None:
        cell = found.cells.get(spec.grid)
        if cell is None and found.cells:
            problems.append(_unknown_cell(row.file, row.line_of("grid"), f"{spec.id}.grid", spec.grid, found.cells))
        return cell or GridCell(spec.grid)
    if spec.location is not None:
        code = areas.locate(*spec.location)
        if code is not None:
            return found.cells[code]
        problems.append(
            Problem(
                row.file,
                row.line_of("location"),
                f"{spec.id}.location",
                "no grid polygon contains this location; add grid",
            )
        )
        return None
    problems.append(Problem(row.file, row.line, f"{spec.id}.grid", "grid is missing; add the device's grid code"))
    return None


def _device(row: Row, cell: GridCell) -> Device:
    """A registry Device from a validated row, sharing equal mappings between devices."""
    spec = row.spec
    return Device(
        id=spec.id,
        kind=spec.kind,
        grid=cell,
        device_class=spec.device_class,
        name=spec.name,
        units=shared_mapping(spec.units),
        scale=shared_mapping(spec.scale),
        location=spec.location,
        interval=spec.interval,
        aliases=tuple(spec.aliases),
        tags=shared_mapping(spec.tags),
    )


def _check_names(rows: Iterable[Row], problems: list[Problem]) -> list[Row]:
    """Drop rows whose id or alias is taken by an earlier device, with a problem naming both places."""
    taken: dict[str, Row] = {}
    kept: list[Row] = []
    for row in rows:
        clash = [name for name in (row.spec.id, *row.spec.aliases) if name in taken]
        if clash:
            other = taken[clash[0]]
            problems.append(
                Problem(
                    row.file,
                    row.line_of("id" if clash[0] == row.spec.id else "aliases"),
                    f"{row.spec.id}.{'id' if clash[0] == row.spec.id else 'aliases'}",
                    f"{clash[0]!r} is already used by device {other.spec.id!r} at {other.file}:{other.line}; "
                    "give each device its own id and aliases",
                )
            )
            continue
        taken.update(dict.fromkeys((row.spec.id, *row.spec.aliases), row))
        kept.append(row)
    return kept


def load_registry(
    devices: DevicesConfig, grids: GridsConfig, locate: Locate
) -> tuple[Registry, list[Problem], list[Problem]]:
    """Load every device and grid file: the Registry of what is valid, problems (errors), and notes (warnings)."""
    problems: list[Problem] = []
    notes: list[Problem] = []
    found = _load_cells(grids, problems)
    areas = GridAreas(found.areas)
    rows: list[Row] = []
    for path in devices.files:
        file_rows, bad = read_device_file(path, display_path(path))
        rows += file_rows
        problems += bad
    built: list[Device] = []
    for row in _check_names(rows, problems):
        cell = _device_grid(row, found, areas, problems)
        _check_placement(row, areas, notes)
        if cell is not None:
            built.append(_device(row, cell))
    quarantine = devices.quarantine_grid
    if quarantine is not None and found.cells and quarantine not in found.cells:
        file, line = locate(("devices", "quarantine_grid"))
        problems.append(_unknown_cell(file, line, "devices.quarantine_grid", quarantine, found.cells))
    return Registry(built, found.cells.values(), areas), problems, notes
