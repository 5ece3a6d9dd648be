"""Read device files (YAML list of mappings, or CSV with the same column names) into validated DeviceSpecs."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, field_validator

from gateway.config.base import Section
from gateway.config.explain import explain, suggest
from gateway.config.problems import Problem
from gateway.config.schema import GRID_CODE_PATTERN, KIND_PATTERN
from gateway.config.units import Duration
from gateway.config.yamlmarks import Located, Path_, YamlSyntaxError, load_located

__all__ = ["DeviceSpec", "Row", "item_key", "read_device_file"]

_SPLIT: Final = re.compile(r"\s*;\s*")


def _text(value: object) -> object:
    """YAML reads `id: 190720099` as an int; ids, codes and tags are text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _pairs(value: object) -> object:
    """Accept "pm10:ug/m3;pm25:ug/m3" (CSV form) as a mapping; text values stay text."""
    if isinstance(value, str):
        pairs = [item.split(":", 1) for item in _SPLIT.split(value.strip()) if item]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(f'{value!r} is not a list of name:value pairs; write e.g. "pm10:ug/m3;pm25:ug/m3"')
        return {name.strip(): item.strip() for name, item in pairs}
    if isinstance(value, dict):
        return {key: _text(item) for key, item in value.items()}
    return value


def _names(value: object) -> object:
    """Accept "a;b" (CSV form) as a list; numbers become text."""
    if isinstance(value, str):
        return [item for item in _SPLIT.split(value.strip()) if item]
    if isinstance(value, list):
        return [_text(item) for item in value]
    return value


def _location(value: object) -> object:
    """Accept [lat, lon], {lat, lon} or "lat,lon" / "lat lon" / "lat;lon"."""
    if isinstance(value, str):
        return [part for part in re.split(r"[\s,;]+", value.strip()) if part]
    if isinstance(value, dict) and set(value) == {"lat", "lon"}:
        return [value["lat"], value["lon"]]
    return value


TagMap = Annotated[dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")], str], BeforeValidator(_pairs)]


class DeviceSpec(Section):
    """One device as written in a device file."""

    id: Annotated[str, BeforeValidator(_text)] = Field(
        pattern=r"^[A-Za-z0-9_.:-]+$", max_length=64, description='Device id, e.g. "dust-0001".'
    )
    kind: str = Field(pattern=KIND_PATTERN, description="What it measures: dust, water, fire, smoke, noise, weather…")
    grid: Annotated[str | None, BeforeValidator(_text)] = Field(
        default=None,
        pattern=GRID_CODE_PATTERN,
        description="Grid cell code (15 or 14 digits); may be omitted when location lies in a grid polygon.",
    )
    device_class: str = Field(default="", description='Model or class, e.g. "tsp-monitor"; rules can select it.')
    name: str = Field(default="", description="Human name, e.g. the site.")
    units: TagMap = Field(default_factory=dict, description='Field -> unit; CSV: "pm10:ug/m3;pm25:ug/m3".')
    scale: Annotated[dict[str, float], BeforeValidator(_pairs)] = Field(
        default_factory=dict, description='Field -> factor applied to raw values; CSV: "pm10:0.001".'
    )
    location: Annotated[tuple[float, float] | None, BeforeValidator(_location)] = Field(
        default=None, description='[lat, lon] in WGS 84 degrees; CSV: "39.91 116.46".'
    )
    interval: Duration | None = Field(default=None, description="Expected time between reports, e.g. 60s.")
    aliases: Annotated[list[str], BeforeValidator(_names)] = Field(
        default_factory=list, description='Other ids it reports under (HJ 212 MN, SL 651 address); CSV: "a;b".'
    )
    tags: TagMap = Field(default_factory=dict, description='Extra tags; CSV: "site:wangjing;vendor:acme".')

    @field_validator("location")
    @classmethod
    def _on_earth(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        """Latitude within ±90, longitude within ±180 (lat first)."""
        if value is not None and not (abs(value[0]) <= 90 and abs(value[1]) <= 180):
            raise ValueError(f"{list(value)} is not [lat, lon] in degrees; write latitude first, e.g. [39.91, 116.46]")
        return value


@dataclass(frozen=True, slots=True)
class Row:
    """A validated device with the file and line it was written at."""

    spec: DeviceSpec
    file: str
    line: int
    key_lines: dict[str, int]
    """The line of each key of the device (CSV: all on the row's line)."""

    def line_of(self, key: str) -> int:
        """Where one key of this device was written (the device's line when absent)."""
        return self.key_lines.get(key, self.line)


_ADAPTER: Final = TypeAdapter(DeviceSpec)


def item_key(item: Any, index: int) -> str:
    """How problems name a device: its id when it has one, else its position ("[3]")."""
    ident = item.get("id") if isinstance(item, dict) else None
    return str(ident) if isinstance(ident, str | int) and not isinstance(ident, bool) else f"[{index}]"


def _validate(items: list[Any], located: Located, file: str) -> tuple[list[Row], list[Problem]]:
    """Validate each item: Rows for the good ones, problems keyed "<id>.<key>" for the rest."""
    rows: list[Row] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        try:
            spec = _ADAPTER.validate_python(item)
            lines = {key: located.lines[(index, key)] for key in item if (index, key) in located.lines}
            rows.append(Row(spec, file, located.line_of((index,)), lines))
        except ValidationError as exc:
            name = item_key(item, index)

            def locate(path: Path_, i: int = index) -> tuple[str, int]:
                return file, located.line_of((i, *path))

            for problem in explain(exc, item, DeviceSpec, locate):
                key = f"{name}.{problem.key}" if problem.key else name
                problems.append(Problem(problem.file, problem.line, key, problem.message))
    return rows, problems


def _read_yaml(path: Path) -> tuple[list[Any], Located]:
    """A YAML device file: a list of mappings (or {devices: [...]})."""
    located = load_located(path.read_text(encoding="utf-8"))
    data = located.data
    if isinstance(data, dict) and set(data) == {"devices"}:
        data = data["devices"]
        located.lines = {key[1:]: line for key, line in located.lines.items() if key[:1] == ("devices",)}
    if data is None:
        return [], located
    if not isinstance(data, list):
        raise YamlSyntaxError(1, "a device file is a list of devices (- id: dust-0001 ...); write it as a list")
    return data, located


def _read_csv(path: Path) -> tuple[list[Any], Located, list[str]]:
    """A CSV device file: a header row of column names; empty cells are absent keys."""
    located = Located(None)
    items: list[Any] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        for row in reader:
            index = len(items)
            located.lines[(index,)] = reader.line_num
            items.append(
                {
                    key.strip(): value.strip()
                    for key, value in row.items()
                    if isinstance(value, str) and key and value.strip()
                }
            )
            if None in row:
                items[-1]["(extra cells)"] = ",".join(row[None])
    return items, located, columns


def _unknown_columns(columns: list[str], file: str) -> list[Problem]:
    """A problem for each CSV column that is not a device key."""
    known = list(DeviceSpec.model_fields)
    return [
        Problem(file, 1, name, f"unknown column {name!r}{suggest(name, known)}; use only {', '.join(known)}")
        for name in columns
        if name not in known
    ]


def read_device_file(path: Path, file: str) -> tuple[list[Row], list[Problem]]:
    """Read one device file; every problem carries its line and a key such as "dust-0003.grid"."""
    try:
        if path.suffix.lower() == ".csv":
            items, located, columns = _read_csv(path)
            bad = _unknown_columns(columns, file)
            if bad:
                return [], bad
        else:
            items, located = _read_yaml(path)
    except YamlSyntaxError as exc:
        return [], [Problem(file, exc.line, "", exc.message)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], [Problem(file, 0, "", f"cannot read the device file ({exc}); fix or replace it")]
    return _validate(items, located, file)
