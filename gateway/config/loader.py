"""Load edge.yaml: YAML with line numbers, environment overrides, validation, then the device/grid registry."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gateway.config.env import EnvOverride, apply_overrides, find_overrides
from gateway.config.explain import Locate, explain
from gateway.config.problems import ConfigError, Problem
from gateway.config.registry_load import display_path, load_registry
from gateway.config.rules import RulesConfig, load_rule_files
from gateway.config.schema import DevicesConfig, EdgeConfig, GridsConfig
from gateway.config.sections import root_model
from gateway.config.yamlmarks import Located, Path_, YamlSyntaxError, load_located
from gateway.registry import Registry
from rules import RuleSet

__all__ = ["LoadedConfig", "dump_config", "load_config"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated configuration and the registry it names."""

    config: EdgeConfig
    registry: Registry
    path: Path
    lines: Located = field(repr=False)
    """Where each key of the config file was written (for warnings)."""
    overrides: Mapping[Path_, EnvOverride] = field(default_factory=dict, repr=False)
    """Which keys were set from the environment."""
    notes: list[Problem] = field(default_factory=list, repr=False)
    """Warnings found while loading the device and grid files (shown by `check`)."""
    rules: RuleSet | None = None
    """The validated rule set of the `rules` section, when there is one."""

    def section(self, name: str, model: type[M]) -> M | None:
        """A plugged-in section (rules, cameras…) as its model, or None when absent from the file."""
        value = getattr(self.config, name, None)
        if value is not None and not isinstance(value, model):
            raise TypeError(f"section {name!r} is a {type(value).__name__}, not a {model.__name__}")
        return value

    def where(self, path: Path_) -> tuple[str, int]:
        """The file (or environment variable) and line where a key was set."""
        return _locator(display_path(self.path), self.lines, self.overrides)(path)


def _locator(file: str, lines: Located, overrides: Mapping[Path_, EnvOverride]) -> Locate:
    """A function telling where a path was set: the longest overriding variable, else the file's line."""

    def locate(path: Path_) -> tuple[str, int]:
        """Where one path was set."""
        for end in range(len(path), 0, -1):
            override = overrides.get(path[:end])
            if override is not None:
                return f"{override.name} (environment)", 0
        return file, lines.line_of(path)

    return locate


def _read(path: Path, file: str) -> Located:
    """The config file as located data; ConfigError when it cannot be read or is not a mapping."""
    try:
        located = load_located(path.read_text(encoding="utf-8"))
    except YamlSyntaxError as exc:
        raise ConfigError([Problem(file, exc.line, "", exc.message)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, 0, "", f"cannot read the config file ({exc}); check the path")]) from None
    if located.data is None:
        located.data = {}
    if not isinstance(located.data, dict):
        raise ConfigError([Problem(file, 1, "", "the config file must be a mapping of sections (gateway:, mqtt:, …)")])
    return located


def _duplicates(file: str, located: Located) -> list[Problem]:
    """A problem for every key written twice in one mapping (YAML keeps the last one silently)."""
    return [
        Problem(file, line, ".".join(map(str, path)), f"key is also set at line {first}; keep one of them")
        for path, line, first in located.duplicates
    ]


def _validate(model: type[M], data: Any, context: dict[str, Any]) -> tuple[M | None, ValidationError | None]:
    """Validate, returning the model or the error (never raising pydantic's error past here)."""
    try:
        return model.model_validate(data, context=context), None
    except ValidationError as exc:
        return None, exc


def _registry_sections(data: dict[str, Any], context: dict[str, Any]) -> tuple[DevicesConfig, GridsConfig] | None:
    """The devices and grids sections alone, so device files are checked even when other sections are wrong."""
    devices, _ = _validate(DevicesConfig, data.get("devices") or {}, context)
    grids, _ = _validate(GridsConfig, data.get("grids") or {}, context)
    return (devices, grids) if devices is not None and grids is not None else None


def load_config(path: Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate a config file and its device/grid files; ConfigError lists every problem found."""
    env = os.environ if env is None else env
    file = display_path(path)
    located = _read(path, file)
    root = root_model()
    overrides, problems = apply_overrides(located.data, root, find_overrides(env))
    problems += _duplicates(file, located)
    locate = _locator(file, located, overrides)
    context = {"base_dir": path.resolve().parent, "env": env}
    config, error = _validate(root, located.data, context)
    if error is not None:
        problems += explain(error, located.data, root, locate)
    sections = (config.devices, config.grids) if config is not None else _registry_sections(located.data, context)
    registry, notes = Registry(), list[Problem]()
    if sections is not None:
        registry, bad, notes = load_registry(*sections, locate)
        problems += bad
    ruleset = None
    rules_section = getattr(config, "rules", None)
    if isinstance(rules_section, RulesConfig):
        ruleset, bad = load_rule_files(rules_section)
        problems += bad
    if problems or config is None:
        raise ConfigError(problems)
    return LoadedConfig(config, registry, path, located, overrides, notes, ruleset)


def dump_config(loaded: LoadedConfig) -> str:
    """The effective configuration as YAML (defaults filled in, environment applied, secrets masked)."""
    data = loaded.config.model_dump(mode="json")
    data["journal"]["path"] = str(loaded.config.journal_path)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
