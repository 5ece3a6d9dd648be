"""What the delivery worker needs from the durable outbox (gateway/outbox.py implements it)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Accept", "DeliveryStore", "Pending"]

Accept = Callable[[str, str, str], bool]
"""An endpoint's filter over (event kind, event-type code, grid code)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """One event due for one endpoint: its stored body and delivery state."""

    seq: int
    event_id: str
    incident: str
    revision: int
    created_ns: int
    attempts: int
    body: bytes = field(repr=False)


class DeliveryStore(Protocol):
    """Per-endpoint delivery state over the outbox; every call is short and durable when it returns."""

    def register(self, endpoints: Mapping[str, str]) -> dict[str, str | None]:
        """Make these endpoints (name -> url) known; return each one's disabled reason (None = enabled)."""

    def disabled_reason(self, endpoint: str) -> str | None:
        """Why the endpoint is disabled, or None (an operator may enable it from another process)."""

    def admit(self, endpoint: str, accept: Accept) -> int:
        """Queue for the endpoint the new events its filter accepts; return how many."""

    def due(self, endpoint: str, now_ns: int, limit: int, busy: Collection[str]) -> list[Pending]:
        """Events due now, oldest first, at most one per incident and none of an incident in `busy`."""

    def delivered(self, endpoint: str, seq: int) -> None:
        """The endpoint took the event (2xx)."""

    def failed(self, endpoint: str, seq: int, next_at_ns: int, error: str) -> None:
        """An attempt failed; try again at `next_at_ns`."""

    def dead(self, endpoint: str, seq: int, reason: str, now_ns: int) -> None:
        """Give up on the event for this endpoint: keep it in the dead-letter table with the reason."""

    def disable(self, endpoint: str, reason: str) -> None:
        """Stop delivering to the endpoint (410 Gone); its events stay pending."""

    def expedite(self, endpoint: str, now_ns: int) -> None:
        """Make every pending event of the endpoint due now (it recovered from an outage)."""

    def next_due(self, endpoint: str) -> int | None:
        """The earliest retry time of the endpoint's pending events, or None when none is pending."""
