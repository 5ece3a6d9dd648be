"""The registry: devices by id and alias, cells by code, placement, and a 10,000-device load."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.grid import Area, GridAreas
from gateway.model import GridCell
from gateway.registry import Device, Registry, shared_mapping

CELL_A = GridCell("110105001001001", "建外 网格001")
CELL_B = GridCell("110105001001002", "建外 网格002")


def test_lookup_by_id_and_alias() -> None:
    dust = Device("dust-0001", "dust", CELL_A, aliases=("010000A8900016F000169DC0",))
    water = Device("water-0001", "water", CELL_B, interval=300.0)
    registry = Registry([dust, water], [CELL_A, CELL_B])
    assert registry.device("dust-0001") is dust
    assert registry.device("010000A8900016F000169DC0") is dust
    assert registry.device("nope") is None
    assert registry.cell(CELL_B.code) is CELL_B and registry.cell("110105001001009") is None
    assert list(registry.devices()) == [dust, water] and list(registry.cells()) == [CELL_A, CELL_B]
    assert len(registry) == 2


def test_clashes_are_refused() -> None:
    with pytest.raises(ValueError, match="used by both"):
        Registry([Device("a", "dust", CELL_A, aliases=("x",)), Device("x", "dust", CELL_A)])
    with pytest.raises(ValueError, match="twice"):
        Registry([], [CELL_A, CELL_A])


def test_locate_returns_the_configured_cell() -> None:
    square = ((116.0, 39.0), (117.0, 39.0), (117.0, 40.0), (116.0, 40.0))
    registry = Registry([], [CELL_A], GridAreas([Area(CELL_A.code, "", ((square, ()),))]))
    assert registry.locate(39.5, 116.5) is CELL_A
    assert registry.locate(38.0, 116.5) is None
    assert Registry().locate(39.5, 116.5) is None


def test_equal_mappings_are_shared_and_read_only() -> None:
    first = shared_mapping({"pm10": "ug/m3", "pm25": "ug/m3"})
    second = shared_mapping({"pm25": "ug/m3", "pm10": "ug/m3"})
    assert first is second
    with pytest.raises(TypeError):
        first["pm10"] = "mg/m3"  # type: ignore[index]
    assert Device("d", "dust", CELL_A).units == {}


def test_device_is_slotted_and_frozen() -> None:
    device = Device("d", "dust", CELL_A)
    assert not hasattr(device, "__dict__")
    with pytest.raises(AttributeError):
        device.kind = "water"  # type: ignore[misc]


def _write_big(root: Path, count: int) -> list[str]:
    """A grid of 1,000 cells and `count` devices as YAML and CSV; returns the cell codes."""
    cells = [f"110105{s:03d}{c:03d}{g:03d}" for s in range(1, 11) for c in range(1, 11) for g in range(1, 11)]
    (root / "grids.yaml").write_text("".join(f'- code: "{c}"\n  name: cell {c[-6:]}\n' for c in cells))
    kinds = ["dust", "water", "fire", "smoke", "noise", "weather"]
    yaml_lines, csv_rows = [], ["id,kind,grid,device_class,units,interval,aliases,tags"]
    for i in range(count):
        kind, cell = kinds[i % 6], cells[i % len(cells)]
        yaml_lines.append(
            f'- id: {kind}-{i:05d}\n  kind: {kind}\n  grid: "{cell}"\n  device_class: m{i % 3}\n'
            f"  units: {{pm10: ug/m3}}\n  interval: 60s\n  aliases: [MN{i:08d}]\n  tags: {{site: s{i % 50}}}\n"
        )
        csv_rows.append(f"{kind}-{i:05d},{kind},{cell},m{i % 3},pm10:ug/m3,60s,MN{i:08d},site:s{i % 50}")
    (root / "devices.yaml").write_text("".join(yaml_lines))
    (root / "devices.csv").write_text("\n".join(csv_rows) + "\n")
    for name in ("devices.yaml", "devices.csv"):
        (root / f"edge-{name}.yaml").write_text(f"gateway: {{id: big}}\ndevices: {{files: [{name}]}}\n"
                                                "grids: {files: [grids.yaml]}\n")  # fmt: skip
    return cells


@pytest.mark.parametrize("name", ["devices.csv", "devices.yaml"])
def test_ten_thousand_devices(tmp_path: Path, name: str) -> None:
    cells = _write_big(tmp_path, 10_000)
    registry = load_config(tmp_path / f"edge-{name}.yaml", {}).registry
    assert len(registry) == 10_000 and len(registry.cells()) == 1000
    device = registry.device("MN00009999")
    assert device is not None and device.id == "smoke-09999" and device.grid.code == cells[9999 % 1000]
    assert device.grid is registry.cell(device.grid.code)  # one GridCell object per cell, shared
    units = {id(d.units) for d in registry.devices()}
    tags = {id(d.tags) for d in registry.devices()}
    assert len(units) == 1 and len(tags) == 50
