"""Effective rules for one device: selector match, then overrides rule → class → grid → device."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rules.device import DeviceInfo
from rules.durations import NS_PER_S, format_duration
from rules.kinds import AnyRule, DetectionRule, SilenceRule
from rules.levels import Levels
from rules.lifecycle import Policy
from rules.ruleset import RuleSet
from rules.schedule import Calendar
from rules.schema import Selector, Tuning


def matches(selector: Selector, device: DeviceInfo) -> bool:
    """Whether a device passes every criterion of a selector."""
    if selector.kind is not None and device.kind not in selector.kind:
        return False
    if selector.devices is not None and device.id not in selector.devices:
        return False
    if selector.device_class is not None and device.device_class not in selector.device_class:
        return False
    if selector.grid is not None and (device.grid is None or not any(device.grid.within(p) for p in selector.grid)):
        return False
    return all(device.tags.get(k) == v for k, v in selector.tags.items())


def _tunings(rule: AnyRule, device: DeviceInfo) -> list[tuple[str, Tuning]]:
    """The overrides that apply to a device, in the order they apply."""
    found: list[tuple[str, Tuning]] = []
    overrides = rule.overrides
    if device.device_class in overrides.device_class:
        found.append((f"device_class:{device.device_class}", overrides.device_class[device.device_class]))
    if device.grid is not None:
        prefixes = sorted((p for p in overrides.grid if device.grid.within(p)), key=len)
        found.extend((f"grid:{p}", overrides.grid[p]) for p in prefixes)
    if device.id in overrides.device:
        found.append((f"device:{device.id}", overrides.device[device.id]))
    return found


@dataclass(frozen=True)
class EffectiveRule:
    """A rule as it applies to one device after overrides, with where each change came from."""

    rule: AnyRule
    device: str
    sources: tuple[str, ...]
    fingerprint: str

    def describe(self) -> str:
        """Operator-facing lines: kind, what is watched, levels, timing, and the overrides applied."""
        rule = self.rule
        lines = [f"{rule.id} ({rule.kind}) event_type={rule.event_type}" + ("" if rule.enabled else " DISABLED")]
        lines.append("  watches: " + _watches(rule))
        for level in rule.levels:
            lines.append(f"  {level.severity}: {rule.direction} set {level.set:g}, clear {level.clear_level:g}")
        timing = {"for": rule.for_, "clear_for": rule.clear_for, "cooldown": rule.cooldown}
        lines.append("  timing: " + ", ".join(f"{k} {format_duration(v)}" for k, v in timing.items()))
        if rule.remind_every:
            lines.append(f"  remind every {format_duration(rule.remind_every)}")
        if rule.schedule is not None:
            lines.append("  active: " + ", ".join(f"{r.start}-{r.end}" for r in rule.schedule))
        if rule.quiet_hours:
            lines.append("  quiet: " + ", ".join(f"{r.start}-{r.end}" for r in rule.quiet_hours))
        if rule.flap is not None:
            lines.append(f"  flap guard: more than {rule.flap.max_opens} in {format_duration(rule.flap.within)}")
        lines.append("  from: " + " → ".join(("rule", *self.sources)))
        return "\n".join(lines)


def _watches(rule: AnyRule) -> str:
    """One phrase for what a rule evaluates."""
    data: dict[str, Any] = rule.model_dump()
    if isinstance(rule, SilenceRule):
        return "missed reporting intervals"
    if isinstance(rule, DetectionRule):
        return f"{rule.detector} detections in zones {rule.zones or 'all'} scoring >= {rule.min_score:g}"
    if "expr" in data:
        return str(data["expr"])
    text = str(data.get("field", ""))
    if "agg" in data:
        text = f"{data['agg']}({text}) over {format_duration(data['window'])}"
        if data.get("min_count", 1) > 1:
            text += f", once it holds {data['min_count']} samples"
    elif "per" in data:
        text = f"rate of {text} per {format_duration(data['per'])} over {format_duration(data['window'])}"
        if data.get("min_span"):
            text += f", once the samples span {format_duration(data['min_span'])}"
    return text


def effective(rules: RuleSet, rule: AnyRule, device: DeviceInfo) -> EffectiveRule | None:
    """The rule as it applies to a device, or None when its selector does not match."""
    if not matches(rule.select, device):
        return None
    tunings = _tunings(rule, device)
    current = rule
    for _, tuning in tunings:
        update = {k: v for k, v in tuning.model_dump(exclude_none=True).items() if k != "levels"}
        if tuning.levels is not None:
            update["levels"] = tuning.levels
        current = current.model_copy(update=update)
    sources = tuple(name for name, _ in tunings)
    return EffectiveRule(current, device.id, sources, rules.fingerprint(current))


def explain(rules: RuleSet, device: DeviceInfo) -> list[EffectiveRule]:
    """Every rule that applies to a device, as it applies (for `edge.py rules explain DEVICE`)."""
    found = (effective(rules, rule, device) for rule in rules.rules)
    return [e for e in found if e is not None]


def explain_text(rules: RuleSet, device: DeviceInfo) -> str:
    """`explain` as text for the command line."""
    grid = device.grid.code if device.grid else "-"
    head = f"device {device.id} kind={device.kind or '-'} class={device.device_class or '-'} grid={grid}"
    found = explain(rules, device)
    if not found:
        return head + "\n  no rules apply"
    return "\n".join([head, *(e.describe() for e in found)])


class Compiled:
    """An effective rule made ready to run: levels, lifecycle policy, schedule calendar."""

    def __init__(self, rules: RuleSet, eff: EffectiveRule, gateway_id: str) -> None:
        rule = eff.rule
        self.rule = rule
        self.fingerprint = eff.fingerprint
        self.severities = tuple(rules.severities)
        self.levels = Levels(rule.levels, rule.direction, self.severities)
        self.schedule = Calendar(rule.schedule, rules.timezone) if rule.schedule is not None else None
        quiet = Calendar(rule.quiet_hours, rules.timezone) if rule.quiet_hours else None
        self.policy = Policy(
            gateway_id=gateway_id, rule_id=rule.id, event_type=rule.event_type, severities=self.severities,
            for_ns=rule.for_, clear_for_ns=rule.clear_for, cooldown_ns=rule.cooldown,
            remind_ns=rule.remind_every or None,
            new_peak=rule.new_peak, sign=self.levels.sign, flap_max=rule.flap.max_opens if rule.flap else None,
            flap_within_ns=rule.flap.within if rule.flap else 0, quiet=quiet,
        )  # fmt: skip

    @cached_property
    def default_interval_ns(self) -> int | None:
        """A silence rule's fallback interval."""
        return self.rule.interval if isinstance(self.rule, SilenceRule) else None


def interval_ns(compiled: Compiled, device: DeviceInfo) -> int | None:
    """The expected reporting interval of a device for a silence rule (registry first, then the rule)."""
    if device.interval:
        return round(device.interval * NS_PER_S)
    return compiled.default_interval_ns
