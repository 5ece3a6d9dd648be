"""Read grid cell files: YAML lists of {code, name}, and GeoJSON polygons of cells."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from gateway.config.base import Section
from gateway.config.explain import explain
from gateway.config.problems import Problem
from gateway.config.schema import GRID_CODE_PATTERN
from gateway.config.yamlmarks import Path_, YamlSyntaxError, load_located
from gateway.grid import Area, GeoJsonError, areas_from_geojson

__all__ = ["CellRow", "CellSpec", "read_cell_file", "read_geojson"]

_FEATURE: Final = re.compile(r'"type"\s*:\s*"Feature"')
_GRID_RE: Final = re.compile(GRID_CODE_PATTERN)


def _text(value: object) -> object:
    """YAML reads an unquoted 15-digit code as an int; codes are text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class CellSpec(Section):
    """One grid cell as written in a grids file."""

    code: Annotated[str, BeforeValidator(_text)] = Field(
        pattern=GRID_CODE_PATTERN,
        description="15 digits: district 6 + street 3 + community 3 + grid 3 (or the older 14-digit form).",
    )
    name: str = Field(default="", description="Cell name, e.g. 建外街道 永安里社区 第1网格.")


@dataclass(frozen=True, slots=True)
class CellRow:
    """A validated cell with the file and line it was written at."""

    spec: CellSpec
    file: str
    line: int


_ADAPTER: Final = TypeAdapter(CellSpec)


def read_cell_file(path: Path, file: str) -> tuple[list[CellRow], list[Problem]]:
    """Read a YAML list of cells; problems carry line and a key such as "[2].code"."""
    try:
        located = load_located(path.read_text(encoding="utf-8"))
    except YamlSyntaxError as exc:
        return [], [Problem(file, exc.line, "", exc.message)]
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(file, 0, "", f"cannot read the grids file ({exc}); fix or replace it")]
    items = located.data if located.data is not None else []
    if not isinstance(items, list):
        return [], [Problem(file, 1, "", "a grids file is a list of cells (- code: ... name: ...); write it as a list")]
    rows: list[CellRow] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        try:
            rows.append(CellRow(_ADAPTER.validate_python(item), file, located.line_of((index,))))
        except ValidationError as exc:

            def locate(path: Path_, i: int = index) -> tuple[str, int]:
                """Where a key of item i was written."""
                return file, located.line_of((i, *path))

            for problem in explain(exc, item, CellSpec, locate):
                problems.append(Problem(problem.file, problem.line, f"[{index}].{problem.key}", problem.message))
    return rows, problems


def _feature_lines(text: str) -> list[int]:
    """The line of each `"type": "Feature"` in a GeoJSON text, in order (features usually appear in order)."""
    return [text.count("\n", 0, match.start()) + 1 for match in _FEATURE.finditer(text)]


def read_geojson(
    path: Path, file: str, code_property: str, name_property: str
) -> tuple[list[tuple[Area, int]], list[Problem]]:
    """Read cell polygons from a GeoJSON file: (area, line) pairs and problems with the feature's line."""
    try:
        text = path.read_text(encoding="utf-8")
        document: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [Problem(file, exc.lineno, "", f"invalid JSON: {exc.msg}; fix the syntax here")]
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(file, 0, "", f"cannot read the GeoJSON file ({exc}); fix or replace it")]
    lines = _feature_lines(text)

    def line_of(feature: int) -> int:
        """The line a feature starts at (1 when it cannot be told)."""
        return lines[feature] if 0 <= feature < len(lines) else 1

    try:
        areas, errors = areas_from_geojson(document, code_property, name_property)
    except GeoJsonError as exc:
        return [], [Problem(file, 1, "", str(exc))]
    problems = [
        Problem(file, line_of(err.feature), f"features[{err.feature}]", f"{err}; fix or remove the feature")
        for err in errors
    ]
    located: list[tuple[Area, int]] = []
    for feature, area in areas:
        if not _GRID_RE.match(area.code):
            problems.append(
                Problem(
                    file,
                    line_of(feature),
                    f"features[{feature}].properties.{code_property}",
                    f"{area.code!r} is not a grid code; write 15 digits (or the older 14)",
                )
            )
            continue
        located.append((area, line_of(feature)))
    return located, problems
