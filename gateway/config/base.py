"""Shared pieces of the config models: the strict base class, file paths, and errors that name their key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, WithJsonSchema

__all__ = ["ConfigPath", "ExistingFile", "FieldError", "Section", "base_dir"]


class Section(BaseModel):
    """Base of every config model: unknown keys are errors, values are read-only once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)


class FieldError(ValueError):
    """A cross-field problem raised by a model validator that belongs to one key of that model."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def base_dir(info: ValidationInfo) -> Path:
    """The directory relative paths are resolved against: the config file's, from the validation context."""
    context = info.context if isinstance(info.context, dict) else {}
    value = context.get("base_dir")
    return value if isinstance(value, Path) else Path.cwd()


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """Resolve a path written relative to the config file."""
    path = value.expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base_dir(info) / path))


def _existing(value: Path, info: ValidationInfo) -> Path:
    """Resolve a path and require that the file exists."""
    path = _resolve(value, info)
    if not path.is_file():
        raise ValueError(f"file {str(path)!r} does not exist; create it or fix the path (relative to the config file)")
    return path


_PATH_SCHEMA: dict[str, Any] = {"type": "string", "format": "path", "minLength": 1}

ConfigPath = Annotated[Path, AfterValidator(_resolve), WithJsonSchema(_PATH_SCHEMA)]
"""A path written relative to the config file (or absolute)."""

ExistingFile = Annotated[Path, AfterValidator(_existing), WithJsonSchema(_PATH_SCHEMA)]
"""A path to a file that must exist, written relative to the config file (or absolute)."""


def http_url(value: str) -> str:
    """An http(s) URL with a host and no embedded credentials (they would reach logs and payloads)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not embed credentials; authenticate with a token or signature instead")
    return value
