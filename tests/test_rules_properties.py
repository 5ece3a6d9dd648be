"""Property tests: hysteresis never flaps inside the dead band; an incident never opens twice; revisions
strictly increase; replay (with any tick cadence) gives the same ids and events; the numpy backtest path
gives exactly what the reading-by-reading path gives."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model import IncidentEvent, IncidentEventKind, Reading
from rules import Engine, backtest, load_rules
from rules.ruleset import RuleSet

S = 1_000_000_000
T0 = 1_700_000_000 * S


@dataclass(frozen=True)
class Config:
    """A random single-field rule set: one threshold rule and one window rule."""

    set_: float
    band: float
    for_s: int
    clear_for_s: int
    cooldown_s: int
    flap: int | None

    def rules(self) -> RuleSet:
        """The rule file."""
        timing = f"for: {self.for_s}\n    clear_for: {self.clear_for_s}\n    cooldown: {self.cooldown_s}"
        flap = f"\n    flap: {{max_opens: {self.flap}, within: 30m}}" if self.flap else ""
        levels = (f"[{{severity: warning, set: {self.set_}, clear: {self.set_ - self.band}}}, "
                  f"{{severity: critical, set: {self.set_ + 100}, clear: {self.set_ + 100 - self.band}}}]")  # fmt: skip
        return load_rules(f"""
rules:
  - id: t
    kind: threshold
    event_type: x
    field: v
    levels: {levels}
    {timing}{flap}
  - id: w
    kind: window
    event_type: x
    field: v
    window: 10m
    levels: {levels}
    {timing}{flap}
""")


configs = st.builds(
    Config,
    set_=st.integers(50, 200).map(float),
    band=st.integers(0, 40).map(float),
    for_s=st.sampled_from([0, 60, 300]),
    clear_for_s=st.sampled_from([0, 120]),
    cooldown_s=st.sampled_from([0, 300]),
    flap=st.sampled_from([None, 1, 3]),
)
steps = st.lists(st.tuples(st.integers(1, 400), st.integers(0, 400)), min_size=1, max_size=80)


def readings_of(sequence: list[tuple[int, int]], devices: int = 1) -> list[Reading]:
    """Readings at cumulative offsets (seconds), round-robin over devices."""
    out, t = [], T0
    for i, (dt, value) in enumerate(sequence):
        t += dt * S
        out.append(Reading(f"d{i % devices}", "dust", t, {"v": float(value)}))
    return out


def run(rules: RuleSet, readings: list[Reading], ticks: list[int] = ()) -> list[IncidentEvent]:  # type: ignore[assignment]
    """Every event of an engine fed readings (and ticks in between), then a final tick."""
    eng = Engine(rules, "gw", [])
    events: list[IncidentEvent] = []
    pending = sorted(ticks)
    for reading in readings:
        while pending and pending[0] <= reading.ts_ns:
            events += eng.tick(pending.pop(0))
        events += eng.on_reading(reading, None, reading.ts_ns)
    return events + eng.tick(readings[-1].ts_ns + 10**15)


def key(event: IncidentEvent) -> tuple[object, ...]:
    """What must be identical across replays."""
    inc = event.incident
    return (event.ts_ns, inc.rule, inc.subject, inc.revision, event.kind.value, inc.id, inc.severity, event.reason)


@settings(max_examples=150, deadline=None)
@given(configs, steps)
def test_incidents_open_once_resolve_once_and_revisions_strictly_increase(
    config: Config, seq: list[tuple[int, int]]
) -> None:
    events = run(config.rules(), readings_of(seq, devices=2))
    history: dict[str, list[IncidentEvent]] = {}
    open_by_subject: dict[tuple[str, str], str] = {}
    for event in events:
        inc = event.incident
        history.setdefault(inc.id, []).append(event)
        subject = (inc.rule, inc.subject)
        if event.kind == IncidentEventKind.OPENED:
            assert subject not in open_by_subject, "two open incidents for one (rule, subject)"
            open_by_subject[subject] = inc.id
        else:
            assert open_by_subject.get(subject) == inc.id
            if event.kind == IncidentEventKind.RESOLVED:
                del open_by_subject[subject]
    for incident_events in history.values():
        kinds = [e.kind for e in incident_events]
        assert kinds[0] == IncidentEventKind.OPENED and kinds.count(IncidentEventKind.OPENED) == 1
        assert IncidentEventKind.RESOLVED not in kinds[:-1]
        revisions = [e.incident.revision for e in incident_events]
        assert all(b > a for a, b in itertools.pairwise(revisions))


@settings(max_examples=150, deadline=None)
@given(configs, steps)
def test_hysteresis_never_changes_state_inside_the_dead_band(config: Config, seq: list[tuple[int, int]]) -> None:
    eng = Engine(config.rules(), "gw", [])
    for reading in readings_of(seq):
        eng.tick(reading.ts_ns)  # settle timers first, so only the reading can change anything
        before = {b.key: (b.kind.idx, b.machine.level, b.machine.phase) for b in eng.subjects()}
        value = float(reading.fields["v"])
        eng.on_reading(reading, None, reading.ts_ns)
        for binding in eng.subjects():
            if binding.key[0] != "t" or binding.key not in before:
                continue
            idx, level, phase = before[binding.key]
            levels = binding.compiled.levels
            inside = (idx == 0 or value >= levels.clears[idx - 1]) and (idx == levels.n or value < levels.sets[idx])
            if inside:
                assert (binding.kind.idx, binding.machine.level, binding.machine.phase) == (idx, level, phase)


@settings(max_examples=100, deadline=None)
@given(configs, steps, st.lists(st.integers(0, 30_000), max_size=40))
def test_replay_gives_the_same_ids_and_events_whatever_the_tick_cadence(
    config: Config, seq: list[tuple[int, int]], tick_offsets: list[int]
) -> None:
    rules = config.rules()
    readings = readings_of(seq, devices=2)
    first = sorted(map(key, run(rules, readings)))
    again = sorted(map(key, run(rules, readings)))
    ticked = sorted(map(key, run(rules, readings, [T0 + s * S for s in tick_offsets])))
    assert first == again == ticked


@settings(max_examples=100, deadline=None)
@given(configs, steps)
def test_vectorised_backtest_equals_reading_by_reading(config: Config, seq: list[tuple[int, int]]) -> None:
    rules = config.rules()
    readings = readings_of(seq, devices=3)
    fast = backtest(rules, readings, gateway_id="gw", fast=True)
    slow = backtest(rules, readings, gateway_id="gw", fast=False)
    assert fast.incidents == slow.incidents
    assert fast.events == slow.events
    end = readings[-1].ts_ns
    live = [e for e in run(rules, readings) if e.ts_ns <= end]  # the backtest stops at the last reading
    assert sorted(s.id for s in slow.incidents) == sorted(e.incident.id for e in live if e.kind.value == "opened")
