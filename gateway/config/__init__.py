"""Configuration: edge.yaml models, loading with file:line problems, env overrides, secrets, and `check`.

Public surface:
    load_config(path, env=None) -> LoadedConfig      (raises ConfigError listing every Problem)
    check_config(path, env=None) -> (errors, warnings)
    dump_config(loaded) -> str                        (effective YAML, secrets masked)
    export_json_schema() -> dict                      (config/edge.schema.json)
    register_section(name, model)                     (plug in a section owned by another part)
"""

from gateway.config.check import check_config, config_warnings, export_json_schema, schema_text
from gateway.config.loader import LoadedConfig, dump_config, load_config
from gateway.config.problems import ConfigError, Problem
from gateway.config.schema import (
    DevicesConfig,
    EdgeConfig,
    GatewayConfig,
    GridsConfig,
    InfluxConfig,
    JournalConfig,
    MqttConfig,
    Subscription,
)
from gateway.config.secret import Secret
from gateway.config.sections import register_section, root_model
from gateway.config.units import ByteSize, Duration, parse_bytes, parse_duration

__all__ = [
    "ByteSize",
    "ConfigError",
    "DevicesConfig",
    "Duration",
    "EdgeConfig",
    "GatewayConfig",
    "GridsConfig",
    "InfluxConfig",
    "JournalConfig",
    "LoadedConfig",
    "MqttConfig",
    "Problem",
    "Secret",
    "Subscription",
    "check_config",
    "config_warnings",
    "dump_config",
    "export_json_schema",
    "load_config",
    "parse_bytes",
    "parse_duration",
    "register_section",
    "root_model",
    "schema_text",
]
