"""Generate the key reference of docs/configuration.md from the models (descriptions live with the fields)."""

from __future__ import annotations

import types
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gateway.config.cell_files import CellSpec
from gateway.config.device_files import DeviceSpec
from gateway.config.env import env_name
from gateway.config.secret import Secret
from gateway.config.sections import root_model
from gateway.config.units import format_duration, parse_bytes, parse_duration

__all__ = ["BEGIN", "END", "reference_markdown", "update_document"]

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m gateway.config docs -->"
END = "<!-- END GENERATED REFERENCE -->"


def _validators(metadata: list[Any]) -> set[Any]:
    """The functions of Before-validators in field metadata (to recognise durations and sizes)."""
    return {getattr(item, "func", None) for item in metadata}


def _type_name(annotation: Any, metadata: list[Any]) -> str:
    """A readable type: duration, size, secret, one of …, list of …, map of …, mapping."""
    funcs = _validators(metadata)
    if parse_duration in funcs or parse_bytes in funcs:
        return "duration" if parse_duration in funcs else "size"
    origin = get_origin(annotation)
    return _plain(annotation) if origin is None else _composite(origin, get_args(annotation))


def _composite(origin: Any, args: tuple[Any, ...]) -> str:
    """The name of an Annotated, Union, Literal, list, dict or tuple type."""
    if origin is Annotated:
        name = _type_name(args[0], list(args[1:]))
    elif origin in (Union, types.UnionType):
        name = " or ".join(_type_name(arg, []) for arg in args if arg is not type(None))
        name += " or null" if type(None) in args else ""
    elif origin is Literal:
        name = " \\| ".join(f"`{value}`" for value in args)
    elif origin is list:
        name = f"list of {_type_name(args[0], [])}"
    elif origin is dict:
        name = f"map of {_type_name(args[1], [])}"
    else:
        name = "[lat, lon]"
    return name


def _plain(annotation: Any) -> str:
    """The name of a plain class."""
    if annotation is Secret:
        return "secret"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping (below)"
    return {str: "text", int: "integer", float: "number", bool: "bool", Path: "path"}.get(annotation, str(annotation))


def _default(info: FieldInfo) -> str:
    """The default as operators would write it, or "required"."""
    if info.default is PydanticUndefined and info.default_factory is None:
        return "**required**"
    value = info.default if info.default_factory is None else info.default_factory()  # type: ignore[call-arg]
    funcs = _validators(info.metadata) | {
        func for arg in get_args(info.annotation) for func in _validators(list(get_args(arg)[1:]))
    }
    if isinstance(value, BaseModel):
        return "(defaults)"
    if isinstance(value, float) and parse_duration in funcs:
        return f"`{format_duration(value)}`"
    if isinstance(value, int) and parse_bytes in funcs:
        return f"`{_format_bytes(value)}`"
    if isinstance(value, Enum):
        value = value.value
    return "—" if value is None else f"`{value}`" if not isinstance(value, bool) else f"`{str(value).lower()}`"


def _format_bytes(size: int) -> str:
    """A byte count in the largest binary unit that divides it ("256KiB", "1GiB")."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _rows(model: type[BaseModel], heading: str, env: tuple[str, ...] | None) -> list[str]:
    """Table rows for a model's fields, then tables for the models nested in them."""
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    if env is not None:
        lines = [lines[0] + " environment |", lines[1] + "---|"]
    nested: list[tuple[type[BaseModel], str, tuple[str, ...] | None]] = []
    for name, info in model.model_fields.items():
        row = (
            f"| `{name}` | {_type_name(info.annotation, info.metadata)} | {_default(info)} | {info.description or ''} |"
        )
        lines.append(row + (f" `{env_name((*env, name))}` |" if env is not None else ""))
        for sub, suffix, extra in _models(info.annotation):
            nested.append((sub, f"{heading}.{name}{suffix}", (*env, name, *extra) if env is not None else None))
    for sub, sub_heading, sub_env in nested:
        lines += ["", f"#### `{sub_heading}`", "", *_rows(sub, sub_heading, sub_env)]
    return lines


def _models(annotation: Any) -> list[tuple[type[BaseModel], str, tuple[str, ...]]]:
    """The models inside an annotation, with the heading suffix and env segments of list items and map values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, "", ())]
    origin = get_origin(annotation)
    found = [model for arg in get_args(annotation) for model in _models(arg)]
    if origin is list:
        return [(model, f"[N]{suffix}", ("<N>", *extra)) for model, suffix, extra in found]
    if origin is dict:
        return [(model, f".<name>{suffix}", ("<NAME>", *extra)) for model, suffix, extra in found]
    return found


def reference_markdown() -> str:
    """The generated reference: every section of edge.yaml, then device and grid file keys."""
    root = root_model()
    lines: list[str] = []
    for name, info in root.model_fields.items():
        for model, _, _ in _models(info.annotation):
            lines += [f"### `{name}`", "", (model.__doc__ or "").strip().splitlines()[0], ""]
            lines += [*_rows(model, name, (name,)), ""]
    for title, model in (("Device files (YAML or CSV columns)", DeviceSpec), ("Grid files", CellSpec)):
        lines += [f"### {title}", "", (model.__doc__ or "").strip(), "", *_rows(model, "", None), ""]
    return "\n".join(lines).rstrip() + "\n"


def update_document(text: str) -> str:
    """The document with its generated part replaced by the current reference."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n\n{reference_markdown()}\n{END}{tail}"
