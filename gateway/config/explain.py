"""Turn pydantic validation errors into Problems: file, line, dotted key, what is wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from gateway.config.base import FieldError
from gateway.config.env import dotted
from gateway.config.introspect import field_at, is_secret, options
from gateway.config.problems import Problem
from gateway.config.yamlmarks import Path_

__all__ = ["Locate", "explain", "suggest"]

Locate = Callable[[Path_], tuple[str, int]]
"""Where a path was written: (file or environment variable, line)."""

_SECRET_WORDS = ("password", "token", "secret", "key")


def suggest(word: str, choices: list[str]) -> str:
    """ "; did you mean 'qos'?" for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _data_path(loc: tuple[int | str, ...], data: Any, keep_last: bool) -> Path_:
    """The part of an error's loc that indexes the data (drops pydantic's union/validator tags)."""
    path: list[str | int] = []
    node = data
    for index, key in enumerate(loc):
        in_dict = isinstance(node, dict) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        if in_dict or in_list:
            node = node[key]
        elif not (keep_last and index == len(loc) - 1):
            continue
        path.append(key)
    return tuple(path)


def _show(value: Any) -> str:
    """A short rendering of an offending scalar value."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _hint(root: type[BaseModel], path: Path_) -> str:
    """The field's description, as the "how to fix" part of a message."""
    found = field_at(root, path)
    info = found[1] if found else None
    return f"expected: {info.description}" if info is not None and info.description else "fix the value"


def _message(root: type[BaseModel], error: ErrorDetails, path: Path_, secret: bool) -> tuple[Path_, str]:
    """The path (possibly one key deeper) and the operator-facing message for one error."""
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = options(root, path[:-1])
        return path, f"unknown key {key!r}{suggest(key, allowed)} (allowed: {', '.join(allowed)}); rename or remove it"
    if kind == "missing":
        return path, f"required key {str(path[-1])!r} is missing; add it ({_hint(root, path)})"
    if kind == "value_error":
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            return (*path, cause.key), str(cause)
        return path, str(cause) if cause is not None else error["msg"]
    shown = "" if secret or isinstance(value, dict | list) else f", got {_show(value)}"
    if kind in ("literal_error", "enum"):
        expected = str((error.get("ctx") or {}).get("expected", ""))
        return path, f"must be {expected}{shown}; use one of these{suggest(str(value), _choices(expected))}"
    message = error["msg"][:1].lower() + error["msg"][1:]
    return path, f"{message}{shown}; {_hint(root, path)}"


def _choices(expected: str) -> list[str]:
    """The literal choices out of pydantic's "'a', 'b' or 'c'"."""
    return [part.strip(" '\"") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def explain(error: ValidationError, data: Any, root: type[BaseModel], locate: Locate) -> list[Problem]:
    """One Problem per validation error, located in the file or environment variable it came from."""
    problems = []
    for item in error.errors(include_url=False):
        keep_last = item["type"] in ("missing", "extra_forbidden")
        path = _data_path(item["loc"], data, keep_last)
        secret = is_secret(root, path) or any(word in str(path[-1:]).lower() for word in _SECRET_WORDS)
        path, message = _message(root, item, path, secret)
        file, line = locate(path)
        problems.append(Problem(file, line, dotted(path), message))
    return problems
