"""The `dispatch` section of edge.yaml: webhook endpoints, retries, age limit, escalation and outbox bounds.

Plug it in with one line in `gateway/config/sections.py` `_plugged()`: `"dispatch": DispatchConfig,`
(import it there from gateway.config.dispatch). `DispatchConfig.settings()` builds the plain settings the
webhook adapter takes (adapters/ does not import gateway.config, so secrets are resolved here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.base import FieldError, Section, http_url
from gateway.config.secret import Secret
from gateway.config.units import Duration

if TYPE_CHECKING:
    from adapters.webhook.escalation import EscalationPolicy
    from adapters.webhook.settings import DispatchSettings
    from gateway.outbox import OutboxOptions

__all__ = ["DispatchConfig", "EndpointConfig", "EscalationConfig", "OutboxConfig", "RetryConfig"]

_NAME = r"^[a-z][a-z0-9_-]*$"


def _check_secret(secret: Secret, key: str) -> None:
    """The secret must be a Standard Webhooks key ("whsec_<base64>", at least 16 bytes)."""
    from adapters.webhook.signing import parse_secret

    try:
        parse_secret(secret.get())
    except ValueError as exc:
        raise FieldError(key, str(exc)) from None


class EndpointConfig(Section):
    """One receiver of incident events (the city platform, a street's platform…), with an optional standby."""

    name: str = Field(pattern=_NAME, max_length=32, description="Endpoint name: in logs, metrics and dead letters.")
    url: str = Field(description="Where events are POSTed: http(s)://host[:port]/path.")
    fallback_url: str | None = Field(
        default=None,
        description="The same platform's standby receiver: an attempt that fails on the primary is repeated "
        "here at once, and events keep going here for `failback_after`. Same secret.",
    )
    secret: Secret = Field(description='Signing key, "whsec_<base64>"; write "env:NAME" or "file:PATH".')
    previous_secret: Secret | None = Field(
        default=None,
        description="The key being retired during a rotation: requests carry both signatures until you remove it.",
    )
    kinds: list[Literal["opened", "updated", "resolved"]] | None = Field(
        default=None, description="Event kinds sent to this endpoint; omit for all."
    )
    event_types: list[str] | None = Field(
        default=None,
        description='Incident event-type code prefixes sent, e.g. ["2003"] for 施工管理 only; omit for all.',
    )
    grid_prefixes: list[str] | None = Field(
        default=None,
        description='Grid-code prefixes sent, e.g. ["110101001"] for one street; omit for all.',
    )
    connect_timeout: Duration = Field(default=5.0, gt=0, description="Longest wait for the TCP/TLS connection.")
    timeout: Duration = Field(default=15.0, gt=0, description="Longest wait for the whole request and response.")
    concurrency: int = Field(default=8, ge=1, le=256, description="Incidents delivered in parallel (1 per incident).")
    failback_after: Duration = Field(
        default=60.0, gt=0, description="After the primary failed, use the fallback this long before trying it again."
    )

    @field_validator("url", "fallback_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        """Only http(s) URLs without credentials."""
        return None if value is None else http_url(value)

    @field_validator("grid_prefixes")
    @classmethod
    def _digits(cls, value: list[str] | None) -> list[str] | None:
        """Grid prefixes are 1 to 15 digits."""
        for prefix in value or []:
            if not (prefix.isdigit() and 1 <= len(prefix) <= 15):
                raise ValueError(f"grid prefix {prefix!r} must be 1 to 15 digits")
        return value

    @model_validator(mode="after")
    def _secrets(self) -> EndpointConfig:
        """Both secrets must be usable keys."""
        _check_secret(self.secret, "secret")
        if self.previous_secret is not None:
            _check_secret(self.previous_secret, "previous_secret")
        return self


class RetryConfig(Section):
    """How failed deliveries are retried: capped exponential backoff with jitter."""

    first_delay: Duration = Field(default=1.0, gt=0, description="Delay after the first failure.")
    max_delay: Duration = Field(
        default=60.0,
        gt=0,
        description="Longest delay between attempts (the cap): also how late a recovered receiver is noticed.",
    )
    max_retry_after: Duration = Field(
        default=3600.0, ge=0, description="Longest Retry-After (429/503) honoured; longer values are cut to this."
    )

    @model_validator(mode="after")
    def _ordered(self) -> RetryConfig:
        """The cap cannot be below the first delay."""
        if self.max_delay < self.first_delay:
            raise FieldError("max_delay", "max_delay is below first_delay; raise it")
        return self


class EscalationConfig(Section):
    """Unacknowledged incidents move up the grid hierarchy: 网格 → 社区 → 街道 → 区."""

    enabled: bool = Field(default=True, description="Escalate unacknowledged incidents.")
    community_after: Duration = Field(default=1800.0, gt=0, description="Unacknowledged this long: route to 社区.")
    street_after: Duration = Field(default=7200.0, gt=0, description="Unacknowledged this long: route to 街道.")
    district_after: Duration = Field(default=21600.0, gt=0, description="Unacknowledged this long: route to 区.")

    @model_validator(mode="after")
    def _increasing(self) -> EscalationConfig:
        """Each level comes after the one below it."""
        if not self.community_after < self.street_after < self.district_after:
            raise FieldError("street_after", "need community_after < street_after < district_after")
        return self


class OutboxConfig(Section):
    """How many events the outbox keeps, and what happens when it is full."""

    max_events: int = Field(
        default=200_000, ge=100, description="Events stored (undelivered or dead-lettered) at most."
    )
    full_policy: Literal["block", "drop_oldest"] = Field(
        default="block",
        description="When full: `block` stops committing (sensors are not acked) until deliveries free room; "
        "`drop_oldest` deletes the oldest stored events, counted and logged at ERROR.",
    )
    max_inline_bytes: int = Field(
        default=256 * 1024, ge=0, description="Largest snapshot JPEG carried inline in an event (base64)."
    )


class DispatchConfig(Section):
    """Incident events to the dispatch platform (联动指挥中心) as signed webhooks."""

    endpoints: list[EndpointConfig] = Field(min_length=1, description="Receivers; each gets the events it filters.")
    retry: RetryConfig = Field(default_factory=RetryConfig, description="Retry backoff.")
    max_age: Duration = Field(
        default=7 * 86400.0, gt=0, description="An event undelivered this long after it was recorded is dead-lettered."
    )
    poll_interval: Duration = Field(
        default=0.05, gt=0, description="How often the outbox is checked for new events (a commit also wakes it)."
    )
    escalation: EscalationConfig = Field(
        default_factory=EscalationConfig, description="Escalation of unacked incidents."
    )
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, description="Outbox bounds.")
    backchannel_secret: Secret | None = Field(
        default=None,
        description="Key the platform signs its 受理/处置完毕 callbacks with; omit to refuse all callbacks.",
    )

    @field_validator("endpoints")
    @classmethod
    def _unique(cls, value: list[EndpointConfig]) -> list[EndpointConfig]:
        """Endpoint names are unique."""
        names = [e.name for e in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"endpoint names must be unique; repeated: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _backchannel_key(self) -> DispatchConfig:
        """The back-channel secret must be a usable key."""
        if self.backchannel_secret is not None:
            _check_secret(self.backchannel_secret, "backchannel_secret")
        return self

    def settings(self) -> DispatchSettings:
        """The webhook adapter's settings, secrets resolved."""
        from adapters.webhook.settings import DispatchSettings, EndpointSettings, RetrySettings

        endpoints = tuple(
            EndpointSettings.with_secrets(
                e.name, e.url, e.secret.get(), e.previous_secret.get() if e.previous_secret else None,
                fallback_url=e.fallback_url, kinds=None if e.kinds is None else frozenset(e.kinds),
                event_types=None if e.event_types is None else tuple(e.event_types),
                grid_prefixes=None if e.grid_prefixes is None else tuple(e.grid_prefixes),
                connect_timeout=e.connect_timeout, timeout=e.timeout, concurrency=e.concurrency,
                failback_after=e.failback_after,
            )
            for e in self.endpoints
        )  # fmt: skip
        retry = RetrySettings(self.retry.first_delay, self.retry.max_delay, self.retry.max_retry_after)
        return DispatchSettings(endpoints, retry, self.max_age, self.poll_interval)

    def escalation_policy(self) -> EscalationPolicy:
        """The escalation policy `enqueue` applies."""
        from adapters.webhook.escalation import EscalationPolicy

        esc = self.escalation
        return EscalationPolicy((esc.community_after, esc.street_after, esc.district_after), esc.enabled)

    def outbox_options(self) -> OutboxOptions:
        """The options `gateway.outbox.enqueue` takes."""
        from gateway.outbox import OutboxOptions

        box = self.outbox
        return OutboxOptions(box.max_events, box.full_policy, self.escalation_policy(), box.max_inline_bytes)

    def backchannel_keys(self) -> list[bytes]:
        """The raw back-channel key(s) for `backchannel_routes`; empty when callbacks are off."""
        from adapters.webhook.signing import parse_secret

        return [] if self.backchannel_secret is None else [parse_secret(self.backchannel_secret.get())]
