"""One rule bound to one subject: the kind's state, the lifecycle, and the order its timers fire in."""

from __future__ import annotations

from gateway.model import FieldValue, IncidentEvent, Reading
from rules.device import DeviceInfo
from rules.effective import Compiled
from rules.kinds import SilenceRule
from rules.lifecycle import Machine, Phase
from rules.states import KindState

MAINTENANCE_FLAGS = frozenset({"M", "C"})
_TRUE_TEXT = frozenset({"true", "1", "yes"})


def is_maintenance(reading: Reading) -> bool:
    """Whether a reading is flagged maintenance/calibration: `maintenance` true, or `data_flag` M or C."""
    fields = reading.fields
    return maintenance_flagged(fields.get("maintenance"), fields.get("data_flag"))


def maintenance_flagged(flag: FieldValue | None, data_flag: FieldValue | None) -> bool:
    """The maintenance test on the two field values (shared by readings and the backtest's columns)."""
    if flag is True or (isinstance(flag, int | float) and flag == 1):
        return True
    if isinstance(flag, str) and flag.strip().lower() in _TRUE_TEXT:
        return True
    return isinstance(data_flag, str) and data_flag.strip().upper() in MAINTENANCE_FLAGS


class Binding:
    """A (rule, subject) pair: feeds the lifecycle only when the severity rank changes (or for peaks)."""

    __slots__ = ("compiled", "device", "key", "kind", "machine", "peaks", "queued", "sched", "skip_maint")

    def __init__(self, compiled: Compiled, kind: KindState, machine: Machine, device: DeviceInfo) -> None:
        self.compiled = compiled
        self.kind = kind
        self.machine = machine
        self.device = device
        self.key = (compiled.rule.id, machine.subject)
        self.sched = compiled.schedule
        self.peaks = compiled.rule.new_peak is not None
        self.skip_maint = compiled.rule.skip_maintenance and not isinstance(compiled.rule, SilenceRule)
        self.queued: int | None = None

    def on_reading(self, reading: Reading, t: int, now: int, out: list[IncidentEvent]) -> bool:
        """Apply a reading (maintenance already screened); True when the lifecycle may have new deadlines."""
        rank = self.kind.feed(reading, t, now)
        return rank >= 0 and self.apply(rank, t, out)

    def apply(self, rank: int, t: int, out: list[IncidentEvent]) -> bool:
        """Hand a new rank to the lifecycle when it matters; True when it did."""
        machine = self.machine
        if rank == machine.level and not (self.peaks and rank):
            return False
        if self.sched is not None and not self.sched.inside(t):
            return False
        machine.observe(t, rank, self.kind, out)
        return True

    def next_timer(self) -> tuple[int, int] | None:
        """The earliest deadline and its source (0 schedule end, 1 kind, 2 lifecycle); ties in that order."""
        machine = self.machine
        best: tuple[int, int] | None = None
        if self.sched is not None and machine.phase != Phase.IDLE:
            last = machine.last_t
            end = self.sched.next_change(last) if self.sched.inside(last) else last
            best = (end, 0)
        kind_due = self.kind.due()
        if kind_due is not None and (best is None or (kind_due, 1) < best):
            best = (kind_due, 1)
        machine_due = machine.due()
        if machine_due is not None and (best is None or (machine_due, 2) < best):
            best = (machine_due, 2)
        return best

    def due(self) -> int | None:
        """The earliest deadline, if any."""
        timer = self.next_timer()
        return None if timer is None else timer[0]

    def advance(self, now: int, out: list[IncidentEvent]) -> None:
        """Fire, in order, every deadline strictly before `now`."""
        for _ in range(1_000_000):
            timer = self.next_timer()
            if timer is None or timer[0] >= now:
                return
            due, source = timer
            if source == 0:
                self.machine.stop(due, "schedule", out)
                self.kind.reset()
            elif source == 1:
                self.apply(self.kind.fire(due), due, out)
            else:
                self.machine.fire(due, out)
        raise RuntimeError(f"rule {self.key[0]} on {self.key[1]}: timers do not advance")
