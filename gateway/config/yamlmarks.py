"""Read YAML and remember the line of every key and list item, so problems can name file:line.

Data is built straight from the parser's events (no node tree), so a 10,000-device file costs its data,
not a graph of nodes several times its size.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

__all__ = ["Located", "Path_", "YamlSyntaxError", "load_located"]

Path_ = tuple[str | int, ...]
"""A path into a document: mapping keys and list indexes."""

_STR: Final = "tag:yaml.org,2002:str"
_MERGE: Final = "tag:yaml.org,2002:merge"
_PLAIN_TAGS: Final = (None, "!", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (several times faster on big device files), else the pure-Python one."""


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


class _Builder:
    """Turns parser events into Python data while recording lines (safe tags only)."""

    def __init__(self, loader: Any, out: Located) -> None:
        self.loader = loader
        """The parser (typed Any: PyYAML's stubs leave its event methods untyped)."""
        self.out = out
        self.anchors: dict[str, Any] = {}

    def value(self, path: Path_) -> Any:
        """Build the value whose first event is next."""
        event: Any = self.loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise YamlSyntaxError(_line(event), f"unknown alias *{event.anchor}; define the anchor first")
            return copy.deepcopy(self.anchors[event.anchor])  # each use is its own value (env overrides edit in place)
        if isinstance(event, yaml.CollectionStartEvent) and event.tag not in _PLAIN_TAGS:
            raise YamlSyntaxError(_line(event), f"the tag {event.tag} is not supported; remove it")
        if isinstance(event, yaml.ScalarEvent):
            result = self._scalar(event)
        elif isinstance(event, yaml.SequenceStartEvent):
            result = self._sequence(path)
        elif isinstance(event, yaml.MappingStartEvent):
            result = self._mapping(path)
        else:
            raise YamlSyntaxError(_line(event), "unexpected YAML structure; fix the syntax here")
        if getattr(event, "anchor", None):
            self.anchors[event.anchor] = result
        return result

    def _scalar(self, event: Any) -> Any:
        """A scalar resolved and constructed as the safe loader would."""
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _STR:
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        if tag == _MERGE:
            return _MergeKey()
        constructor = self.loader.yaml_constructors.get(tag) or self.loader.yaml_constructors[None]
        return constructor(self.loader, node)

    def _sequence(self, path: Path_) -> list[Any]:
        """A list; each item's line is recorded."""
        items: list[Any] = []
        lines = self.out.lines
        while not self.loader.check_event(yaml.SequenceEndEvent):
            lines[(*path, len(items))] = _line(self.loader.peek_event())
            items.append(self.value((*path, len(items))))
        self.loader.get_event()
        return items

    def _mapping(self, path: Path_) -> dict[str, Any]:
        """A mapping: keys' lines recorded, duplicates noted, merge keys (<<) applied."""
        result: dict[str, Any] = {}
        first: dict[str, int] = {}
        merged: list[Any] = []
        while not self.loader.check_event(yaml.MappingEndEvent):
            start: Any = self.loader.peek_event()
            line = _line(start)
            if not isinstance(start, yaml.ScalarEvent):
                raise YamlSyntaxError(line, "a mapping key must be a plain scalar; quote it or restructure")
            key = self.value(path)
            if isinstance(key, _MergeKey):
                value = self.value(path)
                merged.extend(value if isinstance(value, list) else [value])
                continue
            key = key if isinstance(key, str) else str(key)
            if key in first:
                self.out.duplicates.append(((*path, key), line, first[key]))
            first.setdefault(key, line)
            self.out.lines[(*path, key)] = line
            result[key] = self.value((*path, key))
        self.loader.get_event()
        for source in merged:
            if not isinstance(source, dict):
                raise YamlSyntaxError(self.out.lines.get(path, 1), "a merge key (<<) needs a mapping or a list of them")
            for key, value in source.items():
                result.setdefault(key, value)
        return result


def _line(event: Any) -> int:
    """The 1-based line an event starts at."""
    return int(event.start_mark.line) + 1


class _MergeKey:
    """Marks the YAML merge key `<<` while building a mapping."""


def load_located(text: str) -> Located:
    """Parse one YAML document (safe subset) into data with line numbers; raise YamlSyntaxError."""
    loader: Any = _Loader(text)
    out = Located(None)
    try:
        loader.get_event()  # stream start
        if not loader.check_event(yaml.StreamEndEvent):
            loader.get_event()  # document start
            out.lines[()] = _line(loader.peek_event())
            out.data = _Builder(loader, out).value(())
            loader.get_event()  # document end
            if not loader.check_event(yaml.StreamEndEvent):
                line = _line(loader.peek_event())
                raise YamlSyntaxError(line, "a second YAML document (---) is not allowed; keep one per file")
        return out
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        context = ""
        if exc.context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context = f" ({exc.context} started at line {exc.context_mark.line + 1})"
        message = f"invalid YAML: {exc.problem or exc.context}{context}; fix the syntax here"
        raise YamlSyntaxError(line, message) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, f"invalid YAML: {exc}; fix the syntax") from None
    finally:
        loader.dispose()
