"""Load rule files and event-type tables from YAML text, with errors that name the YAML line."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from rules.ruleset import EventTypeTable, RuleSet, check_event_types


class RuleFileError(ValueError):
    """A rule or event-type file that does not validate; `errors` lists every problem, with lines."""

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: {len(errors)} error(s)\n  " + "\n  ".join(errors))
        self.source = source
        self.errors = errors


def _parse(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The YAML data and its node tree (for line numbers)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleFileError(source, [f"not valid YAML: {exc}"]) from None
    return data, node


def _line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based YAML line of a pydantic error location (skipping union tags that are not keys)."""
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                continue
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            continue
        line = node.start_mark.line + 1
    return line


def _errors(exc: ValidationError, node: yaml.Node | None) -> list[str]:
    """Readable errors: path, line, message."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "(file)"
        line = _line(node, loc)
        out.append(f"line {line}: {path}: {err['msg']}" if line else f"{path}: {err['msg']}")
    return out


def load_event_types(text: str, source: str = "event_types.yaml") -> EventTypeTable:
    """Parse and validate an event-type table, or raise RuleFileError."""
    data, node = _parse(text, source)
    try:
        return EventTypeTable.model_validate(data)
    except ValidationError as exc:
        raise RuleFileError(source, _errors(exc, node)) from None


def load_rules(text: str, event_types: EventTypeTable | None = None, source: str = "rules.yaml") -> RuleSet:
    """Parse and validate a rule file (whole or not at all), or raise RuleFileError listing every problem."""
    data, node = _parse(text, source)
    try:
        rules = RuleSet.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise RuleFileError(source, _errors(exc, node)) from None
    if event_types is not None:
        problems = check_event_types(rules, event_types)
        if problems:
            raise RuleFileError(source, problems)
    return rules
