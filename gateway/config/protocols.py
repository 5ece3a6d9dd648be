"""The `hj212` and `sl651` sections of edge.yaml: TCP servers for dust monitors (HJ 212-2017) and
water-level stations (SL 651-2014), and the optional upstream relay to a provincial platform."""

from __future__ import annotations

from pydantic import Field

from gateway.config.base import Section
from gateway.config.secret import Secret
from gateway.config.units import Duration


class RelayConfig(Section):
    """Forward every raw HJ 212 packet to an upstream platform as an HJ 212 TCP client (durable queue)."""

    host: str = Field(description="Upstream platform host.")
    port: int = Field(ge=1, le=65535, description="Upstream platform port.")
    max_queue: int = Field(default=100_000, ge=1, description="Packets kept while upstream is away (oldest dropped).")
    min_backoff: Duration = Field(default=1.0, gt=0, description="First reconnect delay.")
    max_backoff: Duration = Field(default=60.0, gt=0, description="Longest reconnect delay.")
    ack_timeout: Duration = Field(default=10.0, gt=0, description="Wait this long for the platform's 9014 (10 s).")


class Hj212Config(Section):
    """HJ 212-2017 TCP server: dust/noise monitors' DTUs connect here and send real-time and minute data."""

    host: str = Field(default="0.0.0.0", description="Address to listen on (the DTUs' network).")
    port: int = Field(default=6653, ge=0, le=65535, description="TCP port the DTUs are configured with.")
    max_connections: int = Field(default=2000, ge=1, description="Connections beyond this are refused.")
    idle_timeout: Duration = Field(default=600.0, gt=0, description="Close a connection silent this long.")
    timezone: str = Field(default="Asia/Shanghai", description="Time zone of the devices' DataTime.")
    passwords: dict[str, Secret] = Field(
        default_factory=dict,
        description='Per-device PW check: device id or MN -> password ("env:NAME"/"file:PATH"); absent = not checked.',
    )
    st_kinds: dict[str, str] = Field(
        default_factory=dict, description='Extra ST code -> kind mappings, e.g. {"39": "dust"} (defaults built in).'
    )
    relay: RelayConfig | None = Field(default=None, description="Optional upstream relay of the raw packets.")


class Sl651Config(Section):
    """SL 651-2014 TCP server (HEX/BCD mode): water-level and rain stations connect here."""

    host: str = Field(default="0.0.0.0", description="Address to listen on.")
    port: int = Field(default=5005, ge=0, le=65535, description="TCP port the stations are configured with.")
    max_connections: int = Field(default=2000, ge=1, description="Connections beyond this are refused.")
    idle_timeout: Duration = Field(default=900.0, gt=0, description="Close a connection silent this long.")
    timezone: str = Field(default="Asia/Shanghai", description="Time zone of the stations' clocks.")
    keep_online: bool = Field(default=False, description="Answer with ESC (stay online 10 min) instead of EOT.")
