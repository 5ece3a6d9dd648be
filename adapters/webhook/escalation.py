"""Escalation of unacknowledged incidents up the grid hierarchy: 网格 → 社区 → 街道 → 区.

Pure: an incident's routing level follows from its opening time, whether (and when) the platform
acknowledged it (受理), and the policy. Once acknowledged, the level stays where it was at the ack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.model import GridCell

__all__ = ["LEVELS", "LEVEL_NAMES", "EscalationPolicy", "escalate", "next_escalation", "routing"]

LEVELS: Final = ("grid", "community", "street", "district")
"""Routing levels from the unit grid up to the district."""

LEVEL_NAMES: Final = {"grid": "网格", "community": "社区", "street": "街道", "district": "区"}

_PREFIX_LEN: Final = {"community": 12, "street": 9, "district": 6}
_NS: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Seconds an incident may stay unacknowledged before it moves to community, street, then district."""

    after: tuple[float, ...] = (1800.0, 7200.0, 21600.0)
    enabled: bool = True

    def __post_init__(self) -> None:
        if len(self.after) > len(LEVELS) - 1 or any(b <= a for a, b in zip(self.after, self.after[1:], strict=False)):
            raise ValueError("escalation: at most 3 strictly increasing delays (community, street, district)")
        if any(step <= 0 for step in self.after):
            raise ValueError("escalation: delays must be > 0 seconds")


def escalate(opened_ns: int, acked_ns: int | None, now_ns: int, policy: EscalationPolicy) -> str:
    """The routing level of an incident at `now_ns` (frozen at the ack once acknowledged)."""
    if not policy.enabled:
        return LEVELS[0]
    until = now_ns if acked_ns is None else min(acked_ns, now_ns)
    waited = (until - opened_ns) / _NS
    steps = sum(1 for step in policy.after if waited >= step)
    return LEVELS[steps]


def next_escalation(opened_ns: int, acked_ns: int | None, now_ns: int, policy: EscalationPolicy) -> int | None:
    """When the level next moves up (ns), or None when acknowledged, disabled or already at the top."""
    if acked_ns is not None or not policy.enabled:
        return None
    for step in policy.after:
        due = opened_ns + int(step * _NS)
        if due > now_ns:
            return due
    return None


def routing(grid: GridCell | None, level: str) -> dict[str, str]:
    """The routing block of an event: the level, its Chinese name and the grid-code prefix it addresses."""
    if grid is None:
        return {"level": level, "name": LEVEL_NAMES[level], "code": ""}
    code = grid.code if level == "grid" else grid.code[: _PREFIX_LEN[level]]
    return {"level": level, "name": LEVEL_NAMES[level], "code": code}
