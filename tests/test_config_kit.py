"""Helpers for the config tests: write a config tree into a temp dir and load or check it."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from gateway.config import ConfigError, LoadedConfig, Problem, load_config

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "config"

GRIDS = """\
- code: "110105001001001"
  name: 建外街道 网格001
- code: "110105001001002"
  name: 建外街道 网格002
- code: "11010500300201"
  name: 呼家楼街道 老编码网格
"""

DEVICES = """\
- id: dust-0001
  kind: dust
  grid: "110105001001001"
  units: {pm10: ug/m3}
  aliases: [MN0001]
- id: water-0001
  kind: water
  grid: "110105001001002"
  interval: 5m
"""

BASE = """\
gateway:
  id: test-edge
devices:
  files: [devices.yaml]
grids:
  files: [grids.yaml]
"""


def write(root: Path, files: Mapping[str, str]) -> Path:
    """Write files (dedented) under root; return the path of edge.yaml."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root / "edge.yaml"


def tree(root: Path, edge: str = BASE, **extra: str) -> Path:
    """A config tree: edge.yaml plus the standard grids and devices files (overridable by name)."""
    files = {"grids.yaml": GRIDS, "devices.yaml": DEVICES, "edge.yaml": edge}
    files.update({name.replace("__", "."): text for name, text in extra.items()})
    return write(root, files)


def load(path: Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load with an empty environment unless one is given (the test's own env, not the process's)."""
    return load_config(path, env or {})


def problems(path: Path, env: Mapping[str, str] | None = None) -> list[Problem]:
    """The problems loading reports (fails the test when it loads)."""
    with pytest.raises(ConfigError) as caught:
        load(path, env)
    return caught.value.problems


def only(found: list[Problem]) -> Problem:
    """The single problem of a list (fails with the list otherwise)."""
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]
