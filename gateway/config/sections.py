"""Sections of edge.yaml owned by other parts (rules, cameras, dispatch, api), plugged into the root model.

To add a section, add ONE line to `_plugged()`: `"rules": RulesConfig,` (import it lazily there), or call
`register_section("rules", RulesConfig)` before loading. The model should subclass pydantic's BaseModel with
extra="forbid" and a description on every field; the section is optional in the file (absent = None).
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, Field, create_model

from gateway.config.schema import EdgeConfig, section_name_ok

__all__ = ["register_section", "root_model", "sections"]

_registered: dict[str, type[BaseModel]] = {}


def _plugged() -> dict[str, type[BaseModel]]:
    """Section name -> model, one line per section of another part."""
    from gateway.config.api import ApiConfig
    from gateway.config.cameras import CamerasConfig
    from gateway.config.dispatch import DispatchConfig
    from gateway.config.protocols import Hj212Config, Sl651Config
    from gateway.config.rules import RulesConfig

    return {
        "rules": RulesConfig, "hj212": Hj212Config, "sl651": Sl651Config, "dispatch": DispatchConfig,
        "api": ApiConfig, "cameras": CamerasConfig,
    }


def sections() -> dict[str, type[BaseModel]]:
    """Every plugged-in section, in a stable order."""
    merged = {**_plugged(), **_registered}
    return dict(sorted(merged.items()))


def register_section(name: str, model: type[BaseModel]) -> None:
    """Plug a section model in under a top-level key (for parts that cannot be listed in `_plugged`)."""
    if not section_name_ok(name):
        raise ValueError(f"section name {name!r} must be lower-case [a-z][a-z0-9_]* and not a core section")
    _registered[name] = model
    root_model.cache_clear()


@cache
def root_model() -> type[EdgeConfig]:
    """The root model: EdgeConfig plus every plugged-in section as an optional key."""
    extra = sections()
    if not extra:
        return EdgeConfig
    fields: dict[str, object] = {
        name: (model | None, Field(default=None, description=(model.__doc__ or name).strip().splitlines()[0]))
        for name, model in extra.items()
    }
    return create_model("EdgeConfig", __base__=EdgeConfig, __doc__=EdgeConfig.__doc__, **fields)  # type: ignore[call-overload,no-any-return]
