"""Property tests: hysteresis never flaps inside the dead band; an incident never opens twice; revisions
strictly increase; replay (with any tick cadence) gives the same ids and events; the numpy backtest path
gives exactly what the reading-by-reading path gives."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model import IncidentEvent, IncidentEventKind, Reading
from rules import Engine, backtest, load_rules
from rules.device import device_of
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


TZ = "America/New_York"  # a zone with daylight saving, so the columnar reader's zone handling is exercised
FILE_RULES = f"""
timezone: {TZ}
rules:
  - {{id: t, kind: threshold, event_type: x, field: v, for: 60, clear_for: 120,
     levels: [{{severity: warning, set: 100, clear: 80}}, {{severity: critical, set: 300, clear: 250}}]}}
  - {{id: w, kind: window, event_type: x, field: v, window: 10m, levels: [{{severity: warning, set: 150}}]}}
"""
DST = 1710054000  # 2024-03-10 03:00 EDT: naive local times around it include a skipped hour
times = st.one_of(
    st.integers(DST - 7200, DST + 7200).map(str),
    st.integers(DST - 7200, DST + 7200).map(lambda s: str(s * 1000)),
    st.sampled_from(["2024-03-10T01:59:59", "2024-03-10T02:30:00", "2024-03-10 03:00", "2024-11-03T01:30:00",
                     "2024-03-10T02:00:00+00:00", "2024-02-30T00:00:00", "2024-03-10T24:00:00", "x", ""]),
)
cells = st.one_of(
    st.integers(0, 400).map(str),
    st.floats(-5, 400, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.sampled_from(["NA", "", "nan", "inf", "1e2", "abc", "true", " 120", "-0", "+7.", ".5", "1234567890123456"]),
)
rows = st.lists(
    st.tuples(times, st.sampled_from(["d1", "d2", "d3", "", " d2"]), st.sampled_from(["dust", ""]),
              cells, st.sampled_from(["N", "M", "", "1"]), st.integers(0, 30)),
    min_size=1, max_size=60,
)  # fmt: skip


def csv_text(data: list[tuple[str, str, str, str, str, int]]) -> str:
    """A CSV file with a few odd rows: quoted cells, an extra cell, a blank line, CRLF."""
    lines = ["ts,device,kind,v,maintenance"]
    for ts, device, kind, v, flag, odd in data:
        cells = [ts, device, kind, v, flag]
        if odd == 1:
            cells = [f'"{c}"' for c in cells]
        elif odd == 2:
            cells.append("extra")
        lines.append(",".join(cells) + ("\r" if odd == 3 else ""))
        if odd == 4:
            lines.append("")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(rows, st.integers(1, 200), st.booleans())
def test_columnar_file_reader_equals_the_row_reader(
    data: list[tuple[str, str, str, str, str, int]], block: int, clean: bool
) -> None:
    from rules import ReadStats, format_result, read_csv, run_backtest
    from rules.columnar import read_table

    if clean:  # a file the numpy path takes whole: no odd rows
        data = [(t, d, k, v, f, 0) for t, d, k, v, f, _ in data]
    text = csv_text(data)
    raw = text.encode()
    chunks = [raw[i : i + block] for i in range(0, len(raw), block)]
    expected_stats = ReadStats()
    expected = list(read_csv(text.splitlines(), expected_stats, TZ))
    got_stats = ReadStats()
    table = read_table(chunks, "csv", got_stats, TZ)
    assert got_stats == expected_stats
    by_device: dict[str, list[Reading]] = {}
    for reading in expected:
        by_device.setdefault(reading.device, []).append(reading)
    ordered = {d: sorted(rs, key=lambda r: r.ts_ns) for d, rs in by_device.items()}
    assert {d: [(r.ts_ns, r.fields) for r in rs] for d, rs in ordered.items()} == {
        d: [(r.ts_ns, r.fields) for r in s.readings()] for d, s in table.series.items()
    }
    assert {d: device_of(rs[0]) for d, rs in ordered.items()} == {d: s.device for d, s in table.series.items()}
    rules = load_rules(FILE_RULES)
    report = format_result(backtest(rules, expected), rules)
    assert run_backtest(FILE_RULES, chunks, "csv").startswith(report)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["avg", "sum", "min", "max", "count", "p50", "p90"]),
    st.lists(st.tuples(st.integers(0, 90), st.integers(-50, 50)), min_size=1, max_size=300),
    st.integers(1, 400),
)
def test_compact_windows_equal_a_plain_recomputation(agg: str, seq: list[tuple[int, int]], width_s: int) -> None:
    import numpy as np

    from rules.windows import RateWindow, SlidingWindow

    window, rate = SlidingWindow(agg, width_s * S), RateWindow(width_s * S, 3600 * S)
    kept: list[tuple[int, float]] = []
    t = T0
    for dt, v in seq:
        t += dt * S
        window.add(t, v / 4)
        rate.add(t, v / 4)
        kept = [(a, b) for a, b in [*kept, (t, v / 4)] if a > t - width_s * S]
        values = [b for _, b in kept]
        funcs: dict[str, Callable[[list[float]], object]] = {
            "sum": sum, "min": min, "max": max, "count": lambda x: float(len(x)), "avg": np.mean,
            "p50": lambda x: np.percentile(x, 50), "p90": lambda x: np.percentile(x, 90),
        }  # fmt: skip
        got = window.value()
        assert got is not None and abs(got - float(funcs[agg](values))) < 1e-9  # type: ignore[arg-type]
        assert window.count() == len(kept) and rate.delta() == (values[-1] - values[0] if len(kept) > 1 else None)
    again, rate_again = SlidingWindow(agg, width_s * S), RateWindow(width_s * S, 3600 * S)
    again.load(window.dump())
    rate_again.load(rate.dump())
    assert window.dump() == [[a, b] for a, b in kept] and again.value() == window.value()
    assert rate_again.rate() == rate.rate()
