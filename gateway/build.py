"""Turn the validated config into the settings each part takes (adapters know nothing of the config)."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

from adapters.codecs import CODECS, Codec, FieldSpec, JsonCodec, JsonSettings, NumberCodec
from adapters.influx import InfluxSettings
from adapters.mqtt.client import MqttSettings, Subscription
from adapters.mqtt.templates import TopicTemplate
from gateway.config.schema import EdgeConfig, InfluxConfig, MqttConfig
from gateway.config.schema import Subscription as SubscriptionConfig
from gateway.journal import JournalSettings
from gateway.model import GridCell
from gateway.pipeline import IntakeSettings


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
