"""Backtest: run a rule set over recorded readings as fast as the machine can, and summarise the incidents.

Subjects are independent, so readings are grouped per device and each (rule, device) runs on its own
series: threshold rules without schedules or peak updates are stepped with numpy and only the samples
where the severity changes reach the lifecycle; every other rule goes reading by reading through the
same `Binding` the live engine uses. Timers fire strictly before each sample, as live, and at the end
every deadline up to the last reading's time fires.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from gateway.model import FieldValue, IncidentEvent, IncidentEventKind, Reading
from rules.binding import Binding, is_maintenance
from rules.device import DeviceInfo, DeviceSpec, device_of
from rules.durations import NS_PER_S, format_duration
from rules.engine import Engine
from rules.kinds import ThresholdRule
from rules.ruleset import EventTypeTable, RuleSet
from rules.states.base import number
from rules.table import Series, Table

PROGRESS_EVERY = 100_000


@dataclass
class IncidentSummary:
    """One incident a backtest opened: when, where, how bad at worst, and what opened it."""

    id: str
    rule: str
    subject: str
    severity: str
    opened_ns: int
    resolved_ns: int | None = None
    updates: int = 0
    values: dict[str, FieldValue] = field(default_factory=dict)


@dataclass
class RuleStats:
    """What one rule would have done."""

    rule: str
    incidents: int = 0
    open_ns: int = 0
    updates: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    first: list[IncidentSummary] = field(default_factory=list)
    last: list[IncidentSummary] = field(default_factory=list)


@dataclass
class BacktestResult:
    """Per-rule statistics and every incident, over readings from start_ns to end_ns."""

    rules: dict[str, RuleStats]
    incidents: list[IncidentSummary]
    readings: int = 0
    maintenance_skipped: int = 0
    events: int = 0
    start_ns: int = 0
    end_ns: int = 0


class _Collector:
    """Builds summaries from incident events."""

    def __init__(self, rules: RuleSet) -> None:
        self.rank = {name: i for i, name in enumerate(rules.severities)}
        self.open: dict[str, IncidentSummary] = {}
        self.done: list[IncidentSummary] = []
        self.events = 0

    def take(self, events: list[IncidentEvent]) -> None:
        """Fold events into summaries."""
        self.events += len(events)
        for event in events:
            inc = event.incident
            if event.kind == IncidentEventKind.OPENED:
                self.open[inc.id] = IncidentSummary(inc.id, inc.rule, inc.subject, inc.severity, inc.opened_ns,
                                                    values=dict(inc.values))  # fmt: skip
                continue
            summary = self.open[inc.id]
            if self.rank[inc.severity] > self.rank[summary.severity]:
                summary.severity = inc.severity
            if event.kind == IncidentEventKind.UPDATED:
                summary.updates += 1
            else:
                summary.resolved_ns = inc.resolved_ns
                self.done.append(self.open.pop(inc.id))
        events.clear()

    def result(self, rules: RuleSet, keep: int, end_ns: int) -> BacktestResult:
        """Per-rule statistics, incidents ordered by opening time."""
        incidents = sorted([*self.done, *self.open.values()], key=lambda s: (s.opened_ns, s.rule, s.subject))
        stats = {rule.id: RuleStats(rule.id) for rule in rules.rules}
        for summary in incidents:
            rule = stats[summary.rule]
            rule.incidents += 1
            rule.updates += summary.updates
            rule.open_ns += (summary.resolved_ns if summary.resolved_ns is not None else end_ns) - summary.opened_ns
            rule.by_severity[summary.severity] += 1
        for rule in stats.values():
            mine = [s for s in incidents if s.rule == rule.rule]
            rule.first, rule.last = mine[:keep], mine[-keep:] if len(mine) > keep else []
        return BacktestResult(stats, incidents, events=self.events, end_ns=end_ns)


def backtest(
    rules: RuleSet,
    readings: Iterable[Reading],
    devices: Iterable[DeviceInfo] = (),
    gateway_id: str = "backtest",
    keep: int = 3,
    fast: bool = True,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Run `rules` over `readings` (any order) and summarise; silence rules watch `devices`."""
    groups: dict[str, list[Reading]] = {}
    count = 0
    for reading in readings:
        group = groups.get(reading.device)
        if group is None:
            group = groups[reading.device] = []
        group.append(reading)
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    engine = Engine(rules, gateway_id, devices)
    collector = _Collector(rules)
    if not count:
        return collector.result(rules, keep, 0)
    for group in groups.values():
        group.sort(key=attrgetter("ts_ns"))
    start = min(g[0].ts_ns for g in groups.values())
    end = max(g[-1].ts_ns for g in groups.values())
    engine.tick(start)
    skipped = 0
    out: list[IncidentEvent] = []
    for device_id, group in groups.items():
        device = engine.devices.get(device_id) or device_of(group[0])
        bindings = engine.bindings(device, expected=device_id in engine.devices)
        flags = [is_maintenance(r) for r in group] if any(b.skip_maint for b in bindings) else None
        skipped += sum(flags) if flags else 0
        for binding in bindings:
            if fast and _vectorisable(binding):
                _run_fast(binding, group, flags, out)
            else:
                _run_slow(binding, group, flags, out)
            binding.advance(end + 1, out)
            collector.take(out)
    for binding in engine.subjects():
        binding.advance(end + 1, out)
    collector.take(out)
    result = collector.result(rules, keep, end)
    result.readings, result.maintenance_skipped, result.start_ns = count, skipped, start
    if progress is not None:
        progress(count)
    return result


def _vectorisable(binding: Binding) -> bool:
    """Threshold rules with no schedule and no peak updates can be stepped with numpy."""
    return isinstance(binding.compiled.rule, ThresholdRule) and binding.sched is None and not binding.peaks


def _run_slow(binding: Binding, group: Sequence[Reading], flags: list[bool] | None, out: list[IncidentEvent]) -> None:
    """Feed a binding reading by reading, firing its timers first, exactly as the live engine does."""
    skip = binding.skip_maint and flags is not None
    for i, reading in enumerate(group):
        t = reading.ts_ns
        due = binding.due()
        if due is not None and due < t:
            binding.advance(t, out)
        if skip and flags[i]:  # type: ignore[index]
            continue
        binding.on_reading(reading, t, t, out)


def _run_fast(binding: Binding, group: Sequence[Reading], flags: list[bool] | None, out: list[IncidentEvent]) -> None:
    """Step a threshold rule's levels over the whole series with numpy; feed only the changes."""
    rule = binding.compiled.rule
    assert isinstance(rule, ThresholdRule)
    name = rule.field
    skip = binding.skip_maint and flags is not None
    times: list[int] = []
    values: list[float] = []
    for i, reading in enumerate(group):
        x = number(reading.fields.get(name))
        if x is not None and not (skip and flags[i]):  # type: ignore[index]
            times.append(reading.ts_ns)
            values.append(x)
    if values:
        _step_series(binding, np.asarray(times, dtype=np.int64), np.asarray(values, dtype=np.float64), out)


def _step_series(
    binding: Binding, times: npt.NDArray[np.int64], values: npt.NDArray[np.float64], out: list[IncidentEvent]
) -> None:
    """Step a threshold binding over a whole series with numpy; feed only the samples where the rank changes."""
    kind, levels, machine = binding.kind, binding.compiled.levels, binding.machine
    idx = levels.series(values, start=kind.idx)
    ranks = np.asarray(levels.ranks, dtype=np.int64)[idx]
    previous = np.concatenate(([machine.level], ranks[:-1]))
    for i in np.flatnonzero(ranks != previous).tolist():
        t = int(times[i])
        due = binding.due()
        if due is not None and due < t:
            binding.advance(t, out)
        kind.value, kind.idx = float(values[i]), int(idx[i])
        binding.apply(int(ranks[i]), t, out)
    kind.value, kind.idx = float(values[-1]), int(idx[-1])


Columns = Mapping[str, tuple[npt.NDArray[np.int64], Mapping[str, npt.NDArray[np.float64]]]]
"""Per device: sorted timestamps (ns) and field arrays aligned with them (NaN = missing)."""


def backtest_columns(rules: RuleSet, columns: Columns, gateway_id: str = "backtest", keep: int = 3) -> BacktestResult:
    """Columnar backtest for rule sets of threshold rules (no schedules, no peak updates): numpy all the way.

    Maintenance rows must already be left out; gives exactly what `backtest` gives on the same readings.
    """
    series = {d: Series(DeviceSpec(d), ts, dict(fields)) for d, (ts, fields) in columns.items() if len(ts)}
    return backtest_table(rules, Table(series), gateway_id=gateway_id, keep=keep, columns_only=True)


def backtest_table(
    rules: RuleSet,
    table: Table,
    devices: Iterable[DeviceInfo] = (),
    gateway_id: str = "backtest",
    keep: int = 3,
    columns_only: bool = False,
) -> BacktestResult:
    """`backtest` over per-device columns: rules `_vectorisable` allows step with numpy, the rest go reading
    by reading over Readings rebuilt from the columns (only for devices such a rule applies to)."""
    engine, collector = Engine(rules, gateway_id, devices), _Collector(rules)
    count = table.readings
    if not count:
        return collector.result(rules, keep, 0)
    start = min(int(s.ts[0]) for s in table.series.values() if len(s.ts))
    end = max(int(s.ts[-1]) for s in table.series.values() if len(s.ts))
    engine.tick(start)
    skipped = 0
    out: list[IncidentEvent] = []
    for device_id, series in table.series.items():
        device = engine.devices.get(device_id) or series.device
        bindings = engine.bindings(device, expected=device_id in engine.devices)
        flags = series.maintenance() if any(b.skip_maint for b in bindings) else None
        skipped += int(flags.sum()) if flags is not None else 0
        readings: list[Reading] | None = None
        for binding in bindings:
            rule = binding.compiled.rule
            if _vectorisable(binding) and isinstance(rule, ThresholdRule):
                _step_columns(binding, series, rule.field, flags if binding.skip_maint else None, out)
            elif columns_only:
                raise ValueError(f"rule {rule.id} ({rule.kind}) needs backtest(), not backtest_columns()")
            else:
                readings = series.readings() if readings is None else readings
                _run_slow(binding, readings, None if flags is None else flags.tolist(), out)
            binding.advance(end + 1, out)
            collector.take(out)
    for binding in engine.subjects():
        binding.advance(end + 1, out)
    collector.take(out)
    result = collector.result(rules, keep, end)
    result.readings, result.maintenance_skipped, result.start_ns = count, skipped, start
    return result


def _step_columns(
    binding: Binding, series: Series, name: str, skip: npt.NDArray[np.bool_] | None, out: list[IncidentEvent]
) -> None:
    """Step a threshold binding over a device's column, leaving out missing values and skipped rows."""
    values = series.numbers(name)
    if values is None:
        return
    present = ~np.isnan(values)
    if skip is not None:
        present &= ~skip
    if present.all():
        _step_series(binding, series.ts, values, out)
    elif present.any():
        _step_series(binding, series.ts[present], values[present], out)


def compare_rules(
    old: RuleSet, new: RuleSet, readings: Iterable[Reading], devices: Sequence[DeviceInfo] = ()
) -> tuple[BacktestResult, BacktestResult]:
    """Backtest two rule sets over the same readings."""
    materialised = list(readings)
    return backtest(old, materialised, devices), backtest(new, materialised, devices)


def _when(ns: int, zone: ZoneInfo) -> str:
    """A local timestamp for reports."""
    return datetime.fromtimestamp(ns / NS_PER_S, zone).strftime("%Y-%m-%d %H:%M")


def _line(summary: IncidentSummary, zone: ZoneInfo) -> str:
    """One incident as a report line."""
    until = _when(summary.resolved_ns, zone) if summary.resolved_ns is not None else "still open"
    value = summary.values.get("value")
    shown = f" value {value:g}" if isinstance(value, float) else ""
    return f"    {_when(summary.opened_ns, zone)} → {until}  {summary.subject}  {summary.severity}{shown}"


def format_result(result: BacktestResult, rules: RuleSet, event_types: EventTypeTable | None = None) -> str:
    """The report `edge.py backtest` prints."""
    zone = ZoneInfo(rules.timezone)
    span = f"{_when(result.start_ns, zone)} → {_when(result.end_ns, zone)} ({rules.timezone})"
    skipped = f"{result.maintenance_skipped} maintenance readings skipped"
    lines = [f"{result.readings} readings, {span}; {skipped}; {result.events} events"]
    for rule in rules.rules:
        stats = result.rules[rule.id]
        label = f" [{event_types.label(rule.event_type)}]" if event_types else ""
        severities = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_severity.items()))
        lines.append(f"{rule.id}{label}: {stats.incidents} incidents, open {format_duration(stats.open_ns)}, "
                     f"{stats.updates} updates" + (f" ({severities})" if severities else ""))  # fmt: skip
        lines.extend(_line(s, zone) for s in stats.first)
        if stats.last:
            lines.append("    …")
            lines.extend(_line(s, zone) for s in stats.last)
    return "\n".join(lines)


def format_compare(old: BacktestResult, new: BacktestResult) -> str:
    """The difference between two backtests, rule by rule."""
    lines = [f"{'rule':<28} {'old':>6} {'new':>6} {'change':>7}  {'old open':>12} {'new open':>12}"]
    for rule_id in sorted(set(old.rules) | set(new.rules)):
        a, b = old.rules.get(rule_id), new.rules.get(rule_id)
        na, nb = (a.incidents if a else 0), (b.incidents if b else 0)
        oa = format_duration(a.open_ns) if a else "-"
        ob = format_duration(b.open_ns) if b else "-"
        lines.append(f"{rule_id:<28} {na if a else '-':>6} {nb if b else '-':>6} {nb - na:>+7}  {oa:>12} {ob:>12}")
    return "\n".join(lines)
