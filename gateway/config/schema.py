"""The config models of edge.yaml: every key, its type, default and description (the docs are built from them).

Sections owned by other parts plug in with one line in `gateway/config/sections.py`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator

from gateway.config.base import ConfigPath, ExistingFile, FieldError, Section
from gateway.config.secret import Secret
from gateway.config.topics import check_filter, check_template
from gateway.config.units import ByteSize, Duration

__all__ = [
    "DevicesConfig",
    "EdgeConfig",
    "FieldSpec",
    "GatewayConfig",
    "GridsConfig",
    "InfluxConfig",
    "JournalConfig",
    "MqttConfig",
    "ReconnectConfig",
    "Subscription",
    "TimestampSpec",
    "TlsConfig",
]

GRID_CODE_PATTERN: Final = r"^\d{14,15}$"
KIND_PATTERN: Final = r"^[a-z][a-z0-9_]*$"
_DOTTED_PATH: Final = r"^[^.\s]+(\.[^.\s]+)*$"


class GatewayConfig(Section):
    """This gateway box: its id and where it keeps its data."""

    id: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+$",
        max_length=64,
        description="Gateway id: letters, digits, '_', '.', '-'. Part of every incident id, so keep it stable.",
    )
    data_dir: ConfigPath = Field(
        default=Path("var"),
        validate_default=True,
        description="Directory for the journal and state, relative to this config file.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="Log level.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as human text or as one JSON object per line."
    )
    log_levels: dict[str, Literal["debug", "info", "warning", "error"]] = Field(
        default_factory=dict,
        description='Per-component levels, e.g. {"gridedge.mqtt": "debug"}; GRIDEDGE_LOG_LEVELS overrides them.',
    )
    metrics_interval: Duration = Field(
        default=10.0, gt=0, description="How often the gateway writes its own metrics (measurement `gridedge`)."
    )


class TlsConfig(Section):
    """TLS to the broker; used with an mqtts:// url."""

    ca_file: ExistingFile | None = Field(
        default=None, description="PEM file of the CA that signed the broker's certificate; omit for system CAs."
    )
    cert_file: ExistingFile | None = Field(default=None, description="PEM client certificate for mutual TLS.")
    key_file: ExistingFile | None = Field(default=None, description="PEM private key of the client certificate.")
    insecure: bool = Field(
        default=False, description="Skip verifying the broker's certificate and host name. Only for testing."
    )

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsConfig:
        """A client key alone is useless: it needs its certificate."""
        if self.key_file is not None and self.cert_file is None:
            raise FieldError("cert_file", "key_file is set without cert_file; add the client certificate")
        return self


class ReconnectConfig(Section):
    """Backoff between reconnect attempts: capped exponential with jitter."""

    min_delay: Duration = Field(default=1.0, description="First reconnect delay.")
    max_delay: Duration = Field(default=60.0, description="Longest reconnect delay (the cap).")

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectConfig:
        """The cap cannot be below the first delay."""
        if self.max_delay < self.min_delay:
            raise FieldError("max_delay", f"max_delay is below min_delay ({self.min_delay:g} s); raise it")
        return self


class FieldSpec(Section):
    """Where one output field is found in a JSON payload, and how it is converted."""

    path: str = Field(pattern=_DOTTED_PATH, description='Dotted path in the payload, e.g. "data.pm10" or "values.0".')
    type: Literal["float", "int", "bool"] | None = Field(
        default=None, description="Convert to this type; omit to keep the payload's number or bool."
    )
    scale: float = Field(default=1.0, description="Multiply the value by this (unit conversion, e.g. 0.001 mg→g).")


def _field_shorthand(value: object) -> object:
    """Accept "a.b" as shorthand for {path: "a.b"}."""
    return {"path": value} if isinstance(value, str) else value


class TimestampSpec(Section):
    """Where the device's own timestamp is in a JSON payload."""

    path: str = Field(pattern=_DOTTED_PATH, description='Dotted path of the timestamp, e.g. "ts" or "meta.time".')
    unit: Literal["s", "ms", "us", "ns", "iso8601"] = Field(
        description="Epoch seconds/milliseconds/microseconds/nanoseconds, or an ISO 8601 string with a zone."
    )


class Subscription(Section):
    """One MQTT subscription: a topic filter, the template naming its levels, and the payload codec."""

    topic: str = Field(description='MQTT topic filter, e.g. "grid/+/+/+"; "$share/group/..." for shared.')
    template: str = Field(
        description='Names of the topic levels, e.g. "grid/{grid}/{kind}/{device}". {device}, {kind} and '
        "{grid} have their meaning; any other {name} becomes a tag; other levels are literal."
    )
    qos: Literal[0, 1, 2] = Field(default=1, description="MQTT QoS. 1 = at least once, acked after the journal.")
    codec: Literal["json", "number", "line", "hj212"] = Field(
        default="json", description="Payload format: JSON object, a bare number, InfluxDB line protocol, HJ 212."
    )
    kind: str | None = Field(
        default=None,
        pattern=KIND_PATTERN,
        description="Kind when the template has no {kind}; else the device registry's kind is used.",
    )
    fields: dict[str, Annotated[FieldSpec, BeforeValidator(_field_shorthand)]] | None = Field(
        default=None,
        description="JSON codec: output field -> dotted path (or {path, type, scale}); omit to take every "
        "top-level number and bool. Number codec: one entry naming the value's field (default 'value').",
    )
    timestamp: TimestampSpec | None = Field(
        default=None,
        description="JSON codec: where the device timestamp is; omit for the codec's default "
        "(a top-level ts/timestamp/time key, else the receive time).",
    )
    watchdog: Duration | None = Field(
        default=None, description='Warn "no message for N s" when nothing arrives for this long; null = off.'
    )

    @field_validator("topic")
    @classmethod
    def _valid_filter(cls, value: str) -> str:
        """The filter must be a valid MQTT filter."""
        return check_filter(value)

    @model_validator(mode="after")
    def _consistent(self) -> Subscription:
        """The template must fit the filter, and JSON-only settings need the JSON codec."""
        try:
            check_template(self.template, self.topic)
        except ValueError as exc:
            raise FieldError("template", str(exc)) from None
        if self.timestamp is not None and self.codec != "json":
            raise FieldError("timestamp", "timestamp is only read by the json codec; remove it or set codec: json")
        if self.fields is not None and self.codec not in ("json", "number"):
            raise FieldError("fields", f"the {self.codec} codec takes no fields; remove them or set codec: json")
        if self.fields is not None and self.codec == "number" and len(self.fields) != 1:
            raise FieldError("fields", "the number codec takes one field (its name names the value); keep one")
        return self


def _protocol_text(value: object) -> object:
    """Accept `protocol: 5` (a YAML int) as "5"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class MqttConfig(Section):
    """The MQTT broker the sensors publish to, and what to subscribe to."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883", description="Broker url: mqtt://host:port, or mqtts://host:port for TLS."
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Client id; keep it stable so the persistent session survives restarts. "
        'Default "gridedge-<gateway id>".',
    )
    protocol: Annotated[Literal["5", "3.1.1"], BeforeValidator(_protocol_text)] = Field(
        default="5", description='MQTT version. "5" lets the gateway keep a session and a large Receive Maximum.'
    )
    username: str | None = Field(default=None, description="Broker user name.")
    password: Secret | None = Field(default=None, description='Broker password; use "env:NAME" or "file:PATH".')
    tls: TlsConfig | None = Field(default=None, description="TLS settings; needs an mqtts:// url.")
    keepalive: Duration = Field(default=60.0, description="MQTT keepalive interval.")
    session_expiry: Duration = Field(
        default=86400.0,
        description="How long the broker keeps the session (and queued QoS 1/2 messages) while the gateway is away. "
        "0 loses queued messages on every restart.",
    )
    receive_maximum: int = Field(
        default=65535,
        ge=1000,
        le=65535,
        description="MQTT 5 Receive Maximum: unacked QoS 1/2 messages in flight. At least 1000 so durable acks "
        "do not throttle the broker.",
    )
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig, description="Reconnect backoff.")
    embedded_broker: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: start an embedded broker when the url points at this host and nothing listens; off: never.",
    )
    max_payload: ByteSize = Field(default=262144, ge=1, description="Larger payloads are rejected as oversize.")
    subscriptions: list[Subscription] = Field(default_factory=list, description="What to subscribe to.")

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        """Scheme mqtt or mqtts, a host, and a valid port."""
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"{value!r} must start with mqtt:// or mqtts:// (TLS); e.g. mqtt://127.0.0.1:1883")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port; use 1..65535, e.g. mqtt://127.0.0.1:1883") from None
        if not parts.hostname or parts.path not in ("", "/") or parts.query or port == 0:
            raise ValueError(
                f"{value!r} must be mqtt://host:port with nothing after the port; e.g. mqtt://127.0.0.1:1883"
            )
        return value

    @model_validator(mode="after")
    def _tls_matches_url(self) -> MqttConfig:
        """TLS settings only make sense with an mqtts:// url; a password needs a user name."""
        if self.tls is not None and not self.url.startswith("mqtts://"):
            raise FieldError("tls", "tls is set but the url is mqtt://; change the url to mqtts://host:8883")
        if self.password is not None and self.username is None:
            raise FieldError("username", "password is set without username; add the user name")
        return self

    @property
    def host(self) -> str:
        """The broker host name or address."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The broker port (1883, or 8883 for mqtts, when the url has none)."""
        return urlsplit(self.url).port or (8883 if self.uses_tls else 1883)

    @property
    def uses_tls(self) -> bool:
        """Whether the connection is TLS (mqtts://)."""
        return self.url.startswith("mqtts://")

    def effective_client_id(self, gateway_id: str) -> str:
        """The client id to connect with: the configured one, or one derived from the gateway id."""
        return self.client_id or f"gridedge-{gateway_id}"


_V2_ONLY: Final = ("org", "bucket", "token")
_V1_ONLY: Final = ("db", "retention_policy", "username", "password")


class InfluxConfig(Section):
    """Where readings go for Grafana; without this section they stay in the journal."""

    version: Literal[1, 2] = Field(description="2: /api/v2/write with org, bucket, token; 1: /write with db.")
    url: str = Field(description="Base url of the server, e.g. http://127.0.0.1:8086.")
    org: str | None = Field(default=None, min_length=1, description="v2 organisation.")
    bucket: str | None = Field(default=None, min_length=1, description="v2 bucket.")
    token: Secret | None = Field(default=None, description='v2 API token; use "env:NAME" or "file:PATH".')
    db: str | None = Field(default=None, min_length=1, description="v1 database.")
    retention_policy: str | None = Field(default=None, min_length=1, description="v1 retention policy; omit = default.")
    username: str | None = Field(default=None, description="v1 user name.")
    password: Secret | None = Field(default=None, description='v1 password; use "env:NAME" or "file:PATH".')
    batch_size: int = Field(default=5000, ge=1, le=1_000_000, description="Most points per write request.")
    flush_interval: Duration = Field(default=1.0, gt=0, description="Longest wait before a partial batch is sent.")
    gzip: bool = Field(default=True, description="Compress request bodies.")
    timeout: Duration = Field(default=10.0, gt=0, description="Timeout of one write request.")
    max_retry_delay: Duration = Field(default=30.0, gt=0, description="Cap of the exponential retry backoff.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """An http(s) url with a host."""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) url; write e.g. http://127.0.0.1:8086")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _settings_of_version(self) -> InfluxConfig:
        """v2 needs org/bucket/token and takes no v1 settings; v1 needs db and takes no v2 settings."""
        needed, foreign = (_V2_ONLY, _V1_ONLY) if self.version == 2 else (("db",), _V2_ONLY)
        for key in foreign:
            if getattr(self, key) is not None:
                raise FieldError(key, f"{key} is not used with version {self.version}; remove it or change version")
        for key in needed:
            if getattr(self, key) is None:
                raise FieldError(key, f"{key} is required with version {self.version}; add it")
        return self


class JournalConfig(Section):
    """The local SQLite journal: every reading is durable here before it is acked; the spool for InfluxDB."""

    path: ConfigPath | None = Field(default=None, description='SQLite file; default "<data_dir>/journal.db".')
    max_bytes: ByteSize = Field(
        default=1024**3, ge=1024**2, description="Disk budget (at least 1MiB), e.g. 512MiB or 1GiB."
    )
    full_policy: Literal["block", "drop_oldest"] = Field(
        default="block",
        description="When the budget is used up: block = stop acking so the broker holds messages; "
        "drop_oldest = delete the oldest readings not yet written, counted.",
    )
    commit_readings: int = Field(default=1000, ge=1, description="Group commit after this many readings…")
    commit_interval: Duration = Field(default=0.02, gt=0, description="…or after this long, whichever comes first.")
    dead_letter_max: int = Field(default=10000, ge=0, description="Rejected inputs kept for inspection (oldest go).")


class DevicesConfig(Section):
    """The device registry: which devices exist, their kind, grid cell, units."""

    files: list[ExistingFile] = Field(
        default_factory=list, description="Device files (.yaml/.yml or .csv), relative to this config file."
    )
    unknown_policy: Literal["reject", "quarantine"] = Field(
        default="reject",
        description="Readings of devices not in the registry: reject (counted), or accept them under quarantine_grid.",
    )
    quarantine_grid: str | None = Field(
        default=None, pattern=GRID_CODE_PATTERN, description="Grid cell for unknown devices under quarantine."
    )
    max_clock_skew: Duration = Field(
        default=3600.0, description="Device timestamps further than this from the receive time are off."
    )
    skew_policy: Literal["reject", "clamp"] = Field(
        default="clamp",
        description="Timestamps beyond max_clock_skew: reject the reading, or clamp to the receive time; counted.",
    )

    @model_validator(mode="after")
    def _quarantine_cell(self) -> DevicesConfig:
        """The quarantine policy needs a cell to put the devices in."""
        if self.unknown_policy == "quarantine" and self.quarantine_grid is None:
            raise FieldError(
                "quarantine_grid", "quarantine_grid is required with unknown_policy: quarantine; add a grid code"
            )
        return self


class GridsConfig(Section):
    """Grid cells (单元网格): codes, names, and optional polygons to place moving devices."""

    files: list[ExistingFile] = Field(
        default_factory=list, description="YAML files, each a list of {code, name}, relative to this config file."
    )
    geojson: list[ExistingFile] = Field(
        default_factory=list, description="GeoJSON files of cell polygons (Polygon/MultiPolygon, lon/lat)."
    )
    code_property: str = Field(default="code", min_length=1, description="GeoJSON feature property with the grid code.")
    name_property: str = Field(default="name", min_length=1, description="GeoJSON feature property with the cell name.")


_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]*$")


class EdgeConfig(Section):
    """The whole edge.yaml."""

    gateway: GatewayConfig = Field(description="This gateway box.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="MQTT input.")
    influx: InfluxConfig | None = Field(default=None, description="InfluxDB output; absent = readings stay local.")
    journal: JournalConfig = Field(default_factory=JournalConfig, description="Durable local journal.")
    devices: DevicesConfig = Field(default_factory=DevicesConfig, description="Device registry.")
    grids: GridsConfig = Field(default_factory=GridsConfig, description="Grid cells.")

    @property
    def journal_path(self) -> Path:
        """The journal file: journal.path, or journal.db in the data directory."""
        return self.journal.path or self.gateway.data_dir / "journal.db"


def section_name_ok(name: str) -> bool:
    """Whether a plugged-in section name is a valid lower-case key that is not taken."""
    return bool(_NAME_RE.match(name)) and name not in EdgeConfig.model_fields


def describe(model: type[Section], key: str) -> str:
    """The description of one field of a model ("" when unknown); used to explain errors."""
    info = model.model_fields.get(key)
    return (info.description or "") if info is not None else ""


def field_names(model: Any) -> list[str]:
    """The keys a model accepts."""
    return list(getattr(model, "model_fields", {}))
