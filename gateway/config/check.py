"""`edge.py check`: every error and warning of a config, formatted `file:line: key: what is wrong, how to fix`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gateway.config.env import dotted
from gateway.config.loader import LoadedConfig, load_config
from gateway.config.problems import ConfigError, Problem
from gateway.config.secret import Secret
from gateway.config.sections import root_model
from gateway.config.yamlmarks import Path_

__all__ = ["check_config", "config_warnings", "export_json_schema", "schema_text"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _secrets(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Secret]]:
    """Every Secret inside a config model, with its path."""
    if isinstance(value, Secret):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name), (*path, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secrets(item, (*path, index))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _secrets(item, (*path, str(key)))


def _warning(loaded: LoadedConfig, path: Path_, message: str) -> Problem:
    """A warning located where the key was set."""
    file, line = loaded.where(path)
    return Problem(file, line, dotted(path), message)


def _mqtt_warnings(loaded: LoadedConfig) -> Iterator[Problem]:
    """MQTT settings that lose data or throttle the gateway."""
    mqtt = loaded.config.mqtt
    if mqtt.protocol == "3.1.1":
        yield _warning(
            loaded,
            ("mqtt", "protocol"),
            "MQTT 3.1.1 has no session expiry or Receive Maximum: brokers cap unacked QoS 1 messages (mosquitto: 20), "
            'which throttles durable acks; set protocol: "5" unless the broker cannot speak it',
        )
    if mqtt.session_expiry == 0:
        yield _warning(
            loaded,
            ("mqtt", "session_expiry"),
            "the session cannot be persisted: the broker forgets it at disconnect and a gateway restart loses "
            "queued messages; set session_expiry: 1d",
        )
    if mqtt.tls is not None and mqtt.tls.insecure:
        yield _warning(loaded, ("mqtt", "tls", "insecure"), "the broker's certificate is not verified; set false")
    if not mqtt.subscriptions:
        yield _warning(loaded, ("mqtt", "subscriptions"), "nothing is subscribed; add a subscription")
    for index, sub in enumerate(mqtt.subscriptions):
        if sub.qos == 0:
            yield _warning(
                loaded,
                ("mqtt", "subscriptions", index, "qos"),
                "QoS 0 messages are lost when the gateway is down or restarts; use qos: 1",
            )


def _registry_warnings(loaded: LoadedConfig) -> Iterator[Problem]:
    """A registry that will reject everything, or cannot check grid codes."""
    config, registry = loaded.config, loaded.registry
    if not registry.devices() and config.devices.unknown_policy == "reject":
        yield _warning(
            loaded,
            ("devices", "files"),
            "no devices are registered and unknown_policy is reject, so every reading is rejected; add device files",
        )
    if not registry.cells():
        yield _warning(
            loaded, ("grids", "files"), "no grid cells are configured, so device grid codes are not checked; add one"
        )
    yield from loaded.notes


def config_warnings(loaded: LoadedConfig) -> list[Problem]:
    """Things that work but lose data, weaken security or are likely mistakes."""
    warnings = [*_mqtt_warnings(loaded), *_registry_warnings(loaded)]
    for path, secret in _secrets(loaded.config):
        if secret.source == "literal" and loaded.where(path)[1] > 0:
            warnings.append(
                _warning(loaded, path, 'secret written literally in the file; use "env:NAME" or "file:PATH" instead')
            )
    return warnings


def check_config(path: Path, env: Mapping[str, str] | None = None) -> tuple[list[Problem], list[str]]:
    """Errors (empty when the config loads) and formatted warnings of a config file and its device/grid files."""
    try:
        loaded = load_config(path, env)
    except ConfigError as exc:
        return exc.problems, []
    return [], [str(warning) for warning in config_warnings(loaded)]


def export_json_schema() -> dict[str, Any]:
    """The JSON Schema of edge.yaml (for editors), built from the models."""
    schema = root_model().model_json_schema()
    return {"$schema": SCHEMA_DIALECT, "title": "GridEdge edge.yaml", **schema}


def schema_text() -> str:
    """The JSON Schema as the text of config/edge.schema.json."""
    return json.dumps(export_json_schema(), indent=2, ensure_ascii=False) + "\n"
