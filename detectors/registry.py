"""The detector registry: each detector module registers its class; the settings union is built from it."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union

from pydantic import Field, TypeAdapter

if TYPE_CHECKING:
    from detectors.base import Detector, DetectorSettings
    from detectors.scene import Scene

REGISTRY: dict[str, type[Detector[Any]]] = {}
"""Detector classes by their `type` key, filled by `@register` as the modules are imported."""

D = TypeVar("D", bound="type[Detector[Any]]")


def register(cls: D) -> D:
    """Add a detector class to the registry under its `type_key` (a class decorator)."""
    if cls.type_key in REGISTRY and REGISTRY[cls.type_key] is not cls:
        raise ValueError(f"detector type {cls.type_key!r} registered twice")
    REGISTRY[cls.type_key] = cls
    return cls


@cache
def load_all() -> dict[str, type[Detector[Any]]]:
    """Import every module of the package so each detector registers itself; return the registry."""
    import detectors

    for info in pkgutil.iter_modules(detectors.__path__):
        importlib.import_module(f"detectors.{info.name}")
    return REGISTRY


def settings_union() -> Any:
    """The discriminated union (on `type`) of every detector's settings model, for the camera schema.

    Sorted by type so the schema does not depend on which detector module was imported first.
    """
    models = tuple(cls.settings_model for _, cls in sorted(load_all().items()))
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007 - built from a runtime tuple


@cache
def _adapter() -> TypeAdapter[Any]:
    """A validator of the union, built once."""
    return TypeAdapter(settings_union())


def parse_settings(data: Mapping[str, Any]) -> DetectorSettings:
    """Validate one detector's settings (raises pydantic.ValidationError naming the bad field)."""
    settings: DetectorSettings = _adapter().validate_python(dict(data))
    return settings


def build(settings: DetectorSettings, scene: Scene) -> Detector[Any]:
    """A detector instance for one camera from validated settings."""
    return load_all()[settings.type](settings, scene)
