"""Names for every level of the grid tree (区 → 街道 → 社区 → 网格), taken from the configured cells.

Cell files name a cell like "建外街道 社区001 网格001" (street, community, grid, space-separated),
sometimes with the district first. When a name has that shape each part names its level's prefix;
otherwise the whole name names the cell. The page falls back to codes where no name is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.model import GridCell

__all__ = ["grid_json", "level_names"]

LEVELS = ("district", "street", "community", "grid")


def _prefixes(cell: GridCell) -> list[str]:
    return [cell.district, cell.street, cell.community, cell.code]


def level_names(cells: Iterable[GridCell]) -> dict[str, str]:
    """Grid-code prefix -> name, for every level a cell's name spells out."""
    names: dict[str, str] = {}
    for cell in cells:
        prefixes = _prefixes(cell)
        parts = cell.name.split()
        if len(parts) in (3, 4):
            for prefix, part in zip(prefixes[4 - len(parts) :], parts, strict=True):
                names.setdefault(prefix, part)
        elif cell.name:
            names[cell.code] = cell.name
    return names


def grid_json(cells: Iterable[GridCell]) -> dict[str, Any]:
    """/api/v1/grid: the cells with their four level codes, and the name of every known prefix."""
    cell_list = list(cells)
    return {
        "levels": list(LEVELS),
        "cells": [{"code": c.code, "name": c.name, "levels": c.levels()} for c in cell_list],
        "names": level_names(cell_list),
    }
