"""Walk the config models by key path: which field, which type, is it a secret, is it text."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gateway.config.secret import Secret
from gateway.config.yamlmarks import Path_

__all__ = ["field_at", "is_secret", "is_text", "model_at", "options"]


def _members(annotation: Any) -> list[Any]:
    """The alternatives of an annotation with Annotated and Optional/Union unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _step(annotation: Any, key: str | int) -> tuple[Any, FieldInfo | None] | None:
    """The annotation (and field) one key below `annotation`, or None when the key leads nowhere."""
    for member in _members(annotation):
        origin = get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel) and isinstance(key, str):
            info = member.model_fields.get(key)
            if info is not None:
                return info.annotation, info
        elif origin is list and isinstance(key, int):
            return get_args(member)[0], None
        elif origin is dict and isinstance(key, str):
            return get_args(member)[1], None
    return None


def field_at(root: type[BaseModel], path: Path_) -> tuple[Any, FieldInfo | None] | None:
    """The annotation and FieldInfo (None for list items and dict values) at a path, or None when unknown."""
    annotation: Any = root
    info: FieldInfo | None = None
    for key in path:
        found = _step(annotation, key)
        if found is None:
            return None
        annotation, info = found
    return annotation, info


def model_at(root: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    """The model whose keys are found at a path (the mapping at that path), or None."""
    found = field_at(root, path)
    if found is None:
        return None
    for member in _members(found[0]):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def is_secret(root: type[BaseModel], path: Path_) -> bool:
    """Whether the value at a path is a Secret (or under one), so it must never be shown."""
    for end in range(len(path), 0, -1):
        found = field_at(root, path[:end])
        if found is not None:
            return Secret in _members(found[0])
    return False


def is_text(root: type[BaseModel], path: Path_) -> bool:
    """Whether the field at a path takes only text (str, Secret, path, or string literals)."""
    found = field_at(root, path)
    if found is None:
        return False
    members = [member for member in _members(found[0]) if member is not type(None)]
    for member in members:
        if get_origin(member) is Literal:
            if not all(isinstance(value, str) for value in get_args(member)):
                return False
        elif member not in (str, Secret, Path):
            return False
    return bool(members)


def options(root: type[BaseModel], path: Path_) -> list[str]:
    """The keys the mapping at a path accepts (for "did you mean"), or [] when it is free-form."""
    model = model_at(root, path)
    return list(model.model_fields) if model is not None else []
