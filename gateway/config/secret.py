"""Secrets (passwords, tokens, keys): a literal, "env:NAME" or "file:PATH"; shown only as "***"."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["MASK", "Secret", "SecretSource", "loaded_secrets", "secrets_generation"]

MASK: Final = "***"
SecretSource = Literal["literal", "env", "file"]

LOADED_MAX: Final = 4096
"""Bound of the registry of loaded secret values; past it the oldest are forgotten (a reload re-adds)."""
_loaded: dict[str, None] = {}
"""Every secret value made in this process, oldest first: the log redaction filter masks them."""
_generation = [0]


def _remember(value: str) -> None:
    """Add a secret value to the registry the log redaction filter reads."""
    if value in _loaded:
        return
    _loaded[value] = None
    if len(_loaded) > LOADED_MAX:
        del _loaded[next(iter(_loaded))]
    _generation[0] += 1


def loaded_secrets() -> tuple[str, ...]:
    """The values of the secrets loaded so far (for redaction only: never print them)."""
    return tuple(_loaded)


def secrets_generation() -> int:
    """A number that changes whenever a new secret value is loaded, so a redactor knows to rebuild."""
    return _generation[0]


class Secret:
    """A value that never shows itself: str/repr give "***"; `.get()` returns it."""

    __slots__ = ("_value", "reference", "source")

    def __init__(self, value: str, source: SecretSource = "literal", reference: str = "") -> None:
        self._value = value
        _remember(value)
        self.source: SecretSource = source
        self.reference = reference
        """Where the value came from ("env:NAME", "file:PATH"); empty for a literal. Safe to show."""

    def get(self) -> str:
        """The secret value itself: hand it only to the library that needs it."""
        return self._value

    def masked(self) -> str:
        """What dumps show: the reference for env/file secrets (safe, reloadable), else "***"."""
        return self.reference or MASK

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not pickled, so it cannot leak through a pickle")

    @classmethod
    def resolve(cls, raw: str, env: Mapping[str, str], base_dir: Path) -> Secret:
        """Make a Secret from the text in a file: a literal, "env:NAME" or "file:PATH" (relative to base_dir)."""
        if raw.startswith("env:"):
            name = raw[4:]
            if not name or name not in env:
                raise ValueError(f"environment variable {name!r} is not set; export it or write the value another way")
            return cls(env[name], "env", raw)
        if raw.startswith("file:"):
            path = Path(raw[5:]).expanduser()
            path = path if path.is_absolute() else base_dir / path
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"cannot read secret file {str(path)!r} ({exc.strerror}); create it or fix the path"
                ) from None
            return cls(text, "file", raw)
        return cls(raw, "literal", "")

    @classmethod
    def _validate(cls, value: object, info: ValidationInfo) -> Secret:
        """Pydantic hook: accept a Secret, or a string/number to resolve with the loader's env and base dir."""
        if isinstance(value, Secret):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            raise ValueError('expected a non-empty string; write the value, "env:NAME" or "file:PATH"')
        context = info.context if isinstance(info.context, dict) else {}
        env: Mapping[str, str] = context.get("env", {})
        base_dir: Path = context.get("base_dir", Path.cwd())
        return cls.resolve(value, env, base_dir)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[Any], handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """Validate through `_validate`; serialise masked so dumps never carry the value."""
        return core_schema.with_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: s.masked(), return_schema=None),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Editors see a string; the description says where secrets should come from."""
        return {
            "type": "string",
            "minLength": 1,
            "description": 'A secret: "env:NAME" (environment variable), "file:PATH" (file contents), or a literal.',
        }
