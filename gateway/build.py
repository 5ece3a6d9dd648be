"""Turn the validated config into the settings each part takes (adapters know nothing of the config)."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

from adapters.codecs import CODECS, Codec, FieldSpec, JsonCodec, JsonSettings, NumberCodec
from adapters.framed_tcp import TcpSettings
from adapters.hj212.readings import DEFAULT_ST_KINDS, ReadingSettings
from adapters.hj212.relay import Hj212Relay, RelaySettings
from adapters.hj212.server import Hj212Server, Hj212ServerSettings
from adapters.influx import InfluxSettings
from adapters.mqtt.client import MqttSettings, Subscription
from adapters.mqtt.templates import TopicTemplate
from adapters.sl651.readings import Sl651Settings
from adapters.sl651.server import Sl651Server, Sl651ServerSettings
from gateway.config.protocols import Hj212Config, Sl651Config
from gateway.config.schema import EdgeConfig, InfluxConfig, MqttConfig
from gateway.config.schema import Subscription as SubscriptionConfig
from gateway.journal import JournalSettings
from gateway.model import GridCell, ReadingSink
from gateway.pipeline import IntakeSettings
from gateway.registry import Registry


def broker_address(mqtt: MqttConfig) -> tuple[str, int, bool]:
    """Host, port and whether TLS is on, from an `mqtt://` or `mqtts://` url."""
    parts = urlsplit(mqtt.url)
    tls = parts.scheme in {"mqtts", "ssl"}
    return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls


def mqtt_settings(config: EdgeConfig, protocol: str | None = None) -> MqttSettings:
    """The MQTT input's settings; `protocol` overrides the configured one (the embedded broker is 3.1.1)."""
    mqtt = config.mqtt
    host, port, tls = broker_address(mqtt)
    tls_conf = mqtt.tls
    return MqttSettings(
        host=host,
        port=port,
        client_id=mqtt.client_id or f"gridedge-{config.gateway.id}",
        protocol="3.1.1" if (protocol or mqtt.protocol) == "3.1.1" else "5",
        username=mqtt.username,
        password=mqtt.password.get() if mqtt.password is not None else None,
        tls=tls,
        ca_file=str(tls_conf.ca_file) if tls_conf and tls_conf.ca_file else None,
        cert_file=str(tls_conf.cert_file) if tls_conf and tls_conf.cert_file else None,
        key_file=str(tls_conf.key_file) if tls_conf and tls_conf.key_file else None,
        tls_insecure=bool(tls_conf and tls_conf.insecure),
        keepalive=max(5, int(mqtt.keepalive)),
        session_expiry=int(mqtt.session_expiry),
        receive_maximum=mqtt.receive_maximum,
        reconnect_min=mqtt.reconnect.min_delay,
        reconnect_max=mqtt.reconnect.max_delay,
        max_payload=int(mqtt.max_payload),
    )


def codec_for(sub: SubscriptionConfig) -> Codec:
    """The payload codec a subscription names, with its settings."""
    if sub.codec == "json":
        fields = {
            name: FieldSpec(tuple(spec.path.split(".")), spec.type or "float", spec.scale)
            for name, spec in (sub.fields or {}).items()
        }
        ts = sub.timestamp
        return JsonCodec(
            JsonSettings(
                fields=fields,
                timestamp_path=tuple(ts.path.split(".")) if ts else None,
                timestamp_unit=ts.unit if ts else "auto",
            )
        )
    if sub.codec == "number":
        return NumberCodec(next(iter(sub.fields or {}), "value"))
    return CODECS[sub.codec]()


def subscriptions(config: EdgeConfig) -> list[Subscription]:
    """The MQTT subscriptions, each with its compiled template and codec."""
    return [
        Subscription(
            topic=sub.topic,
            template=TopicTemplate.parse(sub.template),
            codec=codec_for(sub),
            qos=sub.qos,
            kind=sub.kind or "",
            watchdog=sub.watchdog,
        )
        for sub in config.mqtt.subscriptions
    ]


def journal_settings(config: EdgeConfig) -> JournalSettings:
    """Where the journal lives and its budget."""
    journal = config.journal
    path = journal.path or Path(config.gateway.data_dir) / "journal.db"
    return JournalSettings(
        path=Path(path),
        max_bytes=int(journal.max_bytes),
        full_policy=journal.full_policy,
        commit_readings=journal.commit_readings,
        commit_interval=journal.commit_interval,
        dead_letter_max=journal.dead_letter_max,
    )


def intake_settings(config: EdgeConfig) -> IntakeSettings:
    """The unknown-device and clock-skew policies."""
    devices = config.devices
    return IntakeSettings(
        unknown_policy=devices.unknown_policy,
        quarantine_grid=GridCell(devices.quarantine_grid) if devices.quarantine_grid else None,
        max_clock_skew_s=devices.max_clock_skew,
        skew_policy=devices.skew_policy,
    )


def influx_settings(influx: InfluxConfig) -> InfluxSettings:
    """The InfluxDB writer's settings (v1 or v2)."""
    return InfluxSettings(
        version=influx.version,
        url=influx.url,
        org=influx.org or "",
        bucket=influx.bucket or "",
        token=influx.token.get() if influx.token is not None else "",
        db=influx.db or "",
        retention_policy=influx.retention_policy or "",
        username=influx.username or "",
        password=influx.password.get() if influx.password is not None else "",
        batch_size=influx.batch_size,
        flush_interval=influx.flush_interval,
        gzip=influx.gzip,
        timeout=influx.timeout,
        max_retry_delay=influx.max_retry_delay,
    )


def hostname() -> str:
    """This box's host name (a default tag of the gateway's own metrics)."""
    return socket.gethostname()


def hj212_server(config: EdgeConfig, section: Hj212Config, sink: ReadingSink, registry: Registry) -> Hj212Server:
    """The HJ 212 TCP server (and its upstream relay, if configured) of an `hj212` section."""
    readings = ReadingSettings(timezone=section.timezone, st_kinds={**DEFAULT_ST_KINDS, **section.st_kinds})
    settings = Hj212ServerSettings(
        tcp=TcpSettings(idle_timeout=section.idle_timeout, max_connections=section.max_connections), readings=readings
    )
    passwords = {name: secret.get() for name, secret in section.passwords.items()}

    def password_of(mn: str) -> str | None:
        device = registry.device(mn)
        return passwords.get(mn) or (passwords.get(device.id) if device is not None else None)

    relay = None
    if section.relay is not None:
        r = section.relay
        relay = Hj212Relay(RelaySettings(
            host=r.host, port=r.port, queue_path=Path(config.gateway.data_dir) / "hj212-relay.db",
            max_queue=r.max_queue, min_backoff=r.min_backoff, max_backoff=r.max_backoff, ack_timeout=r.ack_timeout,
        ))  # fmt: skip
    return Hj212Server(
        section.host, section.port, sink, settings, device_lookup=registry.device,
        password_lookup=password_of if passwords else None, relay=relay,
    )  # fmt: skip


def sl651_server(section: Sl651Config, sink: ReadingSink, registry: Registry) -> Sl651Server:
    """The SL 651 TCP server of an `sl651` section."""
    settings = Sl651ServerSettings(
        tcp=TcpSettings(idle_timeout=section.idle_timeout, max_connections=section.max_connections),
        readings=Sl651Settings(timezone=section.timezone),
        keep_online=section.keep_online,
    )

    def device_id(station: str) -> str | None:
        device = registry.device(station)
        return device.id if device is not None else None

    return Sl651Server(section.host, section.port, sink, settings, device_lookup=device_id)
