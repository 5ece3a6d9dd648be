"""Read YAML and remember the line of every key and list item, so problems can name file:line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Located", "Path_", "YamlSyntaxError", "load_located"]

_STR = "tag:yaml.org,2002:str"
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (10x faster on 10,000-device files), else the pure-Python one."""

Path_ = tuple[str | int, ...]
"""A path into a document: mapping keys and list indexes."""


class YamlSyntaxError(Exception):
    """The text is not valid YAML; carries the 1-based line and a message."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(slots=True)
class Located:
    """A YAML document as plain Python data plus the line where each path starts."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicates: list[tuple[Path_, int, int]] = field(default_factory=list)
    """(path, line, first line) of each key written twice in one mapping."""

    def line_of(self, path: Path_) -> int:
        """The line of the longest prefix of `path` that exists in the document (1 when none)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


class _Walker:
    """Turns composed YAML nodes into Python data while recording lines."""

    def __init__(self, loader: yaml.SafeLoader, out: Located) -> None:
        self.loader = loader
        self.out = out

    def walk(self, node: yaml.Node, path: Path_) -> Any:
        """Convert one node (and its children); containers record their children's lines."""
        if isinstance(node, yaml.ScalarNode):
            return node.value if node.tag == _STR else self.loader.construct_object(node, deep=True)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            lines = self.out.lines
            items = []
            for index, child in enumerate(node.value):
                lines[(*path, index)] = child.start_mark.line + 1
                items.append(self.walk(child, (*path, index)))
            return items
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        """Convert a mapping (merge keys flattened), noting keys written twice."""
        self.loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if key_node.tag == _STR else self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise YamlSyntaxError(key_node.start_mark.line + 1, "a mapping key must be a plain scalar")
            key = key if isinstance(key, str) else str(key)
            line = key_node.start_mark.line + 1
            if key in first:
                self.out.duplicates.append(((*path, key), line, first[key]))
            first.setdefault(key, line)
            self.out.lines[(*path, key)] = line
            result[key] = self.walk(value_node, (*path, key))
        return result


def load_located(text: str) -> Located:
    """Parse one YAML document (safe subset) into data with line numbers; raise YamlSyntaxError."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        out = Located(None)
        if node is not None:
            out.lines[()] = node.start_mark.line + 1
            out.data = _Walker(loader, out).walk(node, ())
        return out
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        context = ""
        if exc.context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context = f" ({exc.context} started at line {exc.context_mark.line + 1})"
        message = f"invalid YAML: {exc.problem or exc.context}{context}; fix the syntax here"
        raise YamlSyntaxError(line, message) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, f"invalid YAML: {exc}; fix the syntax") from None
    finally:
        loader.dispose()
