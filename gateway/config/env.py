"""Override any config key from the environment: GRIDEDGE_<SECTION>__<KEY>[__<SUBKEY>...] = YAML scalar.

Segments are separated by a double underscore and matched lower-case; a numeric segment indexes a list
(GRIDEDGE_MQTT__SUBSCRIPTIONS__0__QOS=2). Text fields take the value as written; other fields parse it as
YAML (so "2", "true", "[a.yaml, b.csv]" and "{min_delay: 1s}" work). Names without "__" are not config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml
from pydantic import BaseModel

from gateway.config.introspect import is_text
from gateway.config.problems import Problem
from gateway.config.yamlmarks import Path_

__all__ = ["PREFIX", "EnvOverride", "apply_overrides", "env_name", "find_overrides"]

PREFIX: Final = "GRIDEDGE_"


@dataclass(frozen=True, slots=True)
class EnvOverride:
    """One environment variable that sets one key."""

    name: str
    path: Path_
    raw: str

    def problem(self, message: str, key: str = "") -> Problem:
        """A problem located at this variable."""
        return Problem(f"{self.name} (environment)", 0, key or dotted(self.path), message)


def dotted(path: Path_) -> str:
    """A path as operators write it: "mqtt.subscriptions[0].qos"."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


def env_name(path: Path_) -> str:
    """The environment variable that overrides a path."""
    return PREFIX + "__".join(str(key).upper() for key in path)


def find_overrides(env: Mapping[str, str]) -> list[EnvOverride]:
    """The config overrides in an environment, sorted so parents apply before children."""
    found = []
    for name, raw in env.items():
        if not name.startswith(PREFIX) or "__" not in name[len(PREFIX) :]:
            continue
        parts = name[len(PREFIX) :].split("__")
        path = tuple(int(part) if part.isdigit() else part.lower() for part in parts)
        found.append(EnvOverride(name, path, raw))
    return sorted(found, key=lambda item: (len(item.path), item.name))


def _value(root: type[BaseModel], override: EnvOverride) -> Any:
    """The override's value: the text itself for text fields, else parsed as YAML (text when it is not YAML)."""
    if is_text(root, override.path):
        return override.raw
    try:
        return yaml.safe_load(override.raw)
    except yaml.YAMLError:
        return override.raw


def _set(data: dict[str, Any], override: EnvOverride, value: Any) -> Problem | None:
    """Set one override into the data, creating mappings on the way; a problem when the path cannot exist."""
    node: Any = data
    path = override.path
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(key, int):
            if not isinstance(node, list) or key > len(node):
                size = len(node) if isinstance(node, list) else 0
                return override.problem(
                    f"index {key} is past the end of a list of {size}; use an index below {size + 1}"
                )
            if key == len(node):
                node.append({})
        elif not isinstance(node, dict):
            return override.problem(f"{dotted(path[:depth])} is not a mapping, so it has no key {key!r}; fix the name")
        if last:
            node[key] = value
        else:
            child = node[key] if (isinstance(key, int) or key in node) else None
            if child is None:
                child = [] if isinstance(path[depth + 1], int) else {}
                node[key] = child
            node = child
    return None


def apply_overrides(
    data: dict[str, Any], root: type[BaseModel], overrides: list[EnvOverride]
) -> tuple[dict[Path_, EnvOverride], list[Problem]]:
    """Apply overrides in place; return which paths now come from which variable, and problems."""
    origins: dict[Path_, EnvOverride] = {}
    problems: list[Problem] = []
    for override in overrides:
        problem = _set(data, override, _value(root, override))
        if problem is None:
            origins[override.path] = override
        else:
            problems.append(problem)
    return origins, problems
