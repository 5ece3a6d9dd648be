"""The rule file as a whole (version, time zone, severities, rules) and the city's event-type table."""

from __future__ import annotations

import hashlib
import itertools
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from rules.kinds import AnyRule, RateRule
from rules.schema import DEFAULT_SEVERITIES, DEFAULT_TIMEZONE, Level, Model, RuleBase, check_levels


class RuleSet(Model):
    """A rule file: what operators write in config/rules.yaml."""

    version: Literal[1] = Field(default=1, description="Rule file format version.")
    timezone: str = Field(default=DEFAULT_TIMEZONE, description="Time zone of schedules and quiet hours.")
    severities: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SEVERITIES), min_length=1, description="Severity names, mildest first."
    )
    rules: list[AnyRule] = Field(default_factory=list, description="The rules.")
    _fingerprints: dict[int, tuple[RuleBase, str]] = PrivateAttr(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        """The time zone must be a known IANA name."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RuleSet:
        """Rule ids are unique; every severity named is declared and levels escalate in severity."""
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise ValueError(f"rules[{i}]: duplicate rule id {rule.id!r}")
            seen.add(rule.id)
            self._check_rule(i, rule)
        return self

    def _check_rule(self, i: int, rule: RuleBase) -> None:
        """Check one rule's levels (and its overrides' levels) against the severities."""
        self._check_levels(f"rules[{i}] ({rule.id})", rule.levels, rule.direction)
        if isinstance(rule, RateRule) and rule.predict and rule.predict.severity not in self.severities:
            raise ValueError(f"rules[{i}] ({rule.id}): unknown predict severity {rule.predict.severity!r}")
        overrides = rule.overrides
        scopes = (("device_class", overrides.device_class), ("grid", overrides.grid), ("device", overrides.device))
        for scope, table in scopes:
            for key, tuning in table.items():
                if scope == "grid" and (not key.isdigit() or len(key) > 15):
                    raise ValueError(f"rules[{i}] ({rule.id}): grid override key {key!r} must be 1-15 digits")
                if tuning.levels is not None:
                    self._check_levels(f"rules[{i}] ({rule.id}) overrides.{scope}.{key}", tuning.levels, rule.direction)

    def _check_levels(self, where: str, levels: list[Level], direction: str) -> None:
        """Levels use declared severities in ascending order and nest properly."""
        ranks = []
        for level in levels:
            if level.severity not in self.severities:
                declared = ", ".join(self.severities)
                raise ValueError(f"{where}: unknown severity {level.severity!r} (declared: {declared})")
            ranks.append(self.severities.index(level.severity))
        if any(b <= a for a, b in itertools.pairwise(ranks)):
            raise ValueError(f"{where}: levels must go from milder to more severe")
        try:
            check_levels(levels, direction)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def rule(self, rule_id: str) -> AnyRule | None:
        """The rule with this id, if any."""
        return next((r for r in self.rules if r.id == rule_id), None)

    def fingerprint(self, rule: RuleBase) -> str:
        """A hash of what makes a rule behave as it does (the rule plus the file's zone and severities).

        Cached for the rules of this file (binding 10,000 devices asks for it 10,000 times per rule);
        an override's transient copy is hashed each time.
        """
        hit = self._fingerprints.get(id(rule))
        if hit is not None and hit[0] is rule:
            return hit[1]
        text = f"{self.timezone}|{','.join(self.severities)}|{rule.model_dump_json()}"
        digest = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
        if any(own is rule for own in self.rules):
            self._fingerprints[id(rule)] = (rule, digest)
        return digest


class EventType(Model):
    """One entry of the city's event code table (大类/小类)."""

    code: str = Field(min_length=1, description="The code the dispatch platform files incidents under.")
    category: str = Field(description="大类, e.g. 施工管理 or 突发事件.")
    subcategory: str = Field(description="小类, e.g. 工地扬尘, 道路积水, 火灾.")
    description: str = Field(default="", description="What the type covers, for operators.")


class EventTypeTable(Model):
    """A city's event code table (config/event_types.yaml)."""

    city: str = Field(default="", description="The city the table belongs to.")
    event_types: list[EventType] = Field(description="The codes.")

    @model_validator(mode="after")
    def _unique(self) -> EventTypeTable:
        """Codes are unique."""
        codes = [e.code for e in self.event_types]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"duplicate event type codes: {', '.join(dupes)}")
        return self

    def lookup(self, code: str) -> EventType | None:
        """The entry for a code, if any."""
        return next((e for e in self.event_types if e.code == code), None)

    def label(self, code: str) -> str:
        """ "大类/小类" for a code, or the code itself when unknown."""
        entry = self.lookup(code)
        return f"{entry.category}/{entry.subcategory}" if entry else code


def check_event_types(rules: RuleSet, table: EventTypeTable) -> list[str]:
    """Errors for rules whose event_type is not in the table."""
    return [
        f"rules[{i}] ({rule.id}): event_type {rule.event_type!r} is not in the {table.city or 'city'} code table"
        for i, rule in enumerate(rules.rules)
        if table.lookup(rule.event_type) is None
    ]
