"""Plain settings of the webhook output (built from the `dispatch` config section): endpoints, retries, limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.webhook.signing import parse_secret

__all__ = ["DispatchSettings", "EndpointSettings", "RetrySettings"]


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Capped exponential backoff with jitter (seconds); `Retry-After` is honoured up to `max_retry_after`."""

    first_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 3600.0

    def __post_init__(self) -> None:
        if self.first_delay <= 0 or self.max_delay < self.first_delay or self.max_retry_after < 0:
            raise ValueError("retry: need 0 < first_delay <= max_delay and max_retry_after >= 0")


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """One receiver of incident events: where, with which secrets, which events, how patiently.

    `secrets` are raw HMAC keys, the current one first; a second one (the previous key) is signed
    with too while a rotation overlaps. `fallback_url` is the same platform's standby receiver.
    """

    name: str
    url: str
    secrets: tuple[bytes, ...] = field(repr=False)
    fallback_url: str | None = None
    kinds: frozenset[str] | None = None
    """Event kinds sent (opened, updated, resolved); None = all."""
    event_types: tuple[str, ...] | None = None
    """Incident event-type code prefixes sent (e.g. "2003" matches "200302"); None = all."""
    grid_prefixes: tuple[str, ...] | None = None
    """Grid-code prefixes sent (a street's 9 digits = only that street); None = all."""
    connect_timeout: float = 5.0
    timeout: float = 15.0
    concurrency: int = 8
    failback_after: float = 60.0
    """After the primary failed, stay on the fallback this long before trying the primary again."""

    def __post_init__(self) -> None:
        if not self.secrets:
            raise ValueError(f"endpoint {self.name}: needs a secret")
        if self.connect_timeout <= 0 or self.timeout <= 0 or self.concurrency < 1:
            raise ValueError(f"endpoint {self.name}: timeouts must be > 0 and concurrency >= 1")

    @classmethod
    def with_secrets(
        cls, name: str, url: str, secret: str, previous: str | None = None, **kw: object
    ) -> EndpointSettings:
        """Build from "whsec_<base64>" secret text (the previous secret too during a rotation)."""
        keys = (parse_secret(secret),) + ((parse_secret(previous),) if previous else ())
        return cls(name, url, keys, **kw)  # type: ignore[arg-type]

    def accepts(self, kind: str, event_type: str, grid: str) -> bool:
        """Whether this endpoint takes an event of this kind, event-type code and grid code."""
        if self.kinds is not None and kind not in self.kinds:
            return False
        if self.event_types is not None and not event_type.startswith(self.event_types):
            return False
        return self.grid_prefixes is None or (bool(grid) and grid.startswith(self.grid_prefixes))


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """Everything the delivery worker needs."""

    endpoints: tuple[EndpointSettings, ...]
    retry: RetrySettings = field(default_factory=RetrySettings)
    max_age: float = 7 * 86400.0
    """An event not delivered this long after it was recorded goes to the dead-letter table."""
    poll_interval: float = 0.05
    """How often the outbox is looked at for new events when nobody calls `wake`."""
    batch: int = 256
    """Most events fetched from the outbox per look."""

    def __post_init__(self) -> None:
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise ValueError(f"endpoint names must be unique: {names}")
        if self.max_age <= 0 or self.poll_interval <= 0 or self.batch < 1:
            raise ValueError("max_age and poll_interval must be > 0, batch >= 1")
