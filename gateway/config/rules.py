"""The `rules` section of edge.yaml: which rule file and event-type table the gateway runs, and how often
it ticks timers and saves rule state. The rule file itself is validated by rules/ (line-numbered)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field

from gateway.config.base import ExistingFile, Section
from gateway.config.problems import Problem
from gateway.config.registry_load import display_path
from gateway.config.units import Duration
from rules import EventTypeTable, RuleFileError, RuleSet, load_event_types, load_rules

_LINE = re.compile(r"^line (\d+): ([^:]*): (.*)$")


class RulesConfig(Section):
    """Alert rules: thresholds, windows, rates, states, silence, detections, expressions."""

    file: ExistingFile = Field(description="Rule file (YAML, see docs/rules.md), relative to this config file.")
    event_types: ExistingFile | None = Field(
        default=None, description="The city's event-type code table (YAML); omit to accept any event_type code."
    )
    tick_interval: Duration = Field(default=1.0, gt=0, description="How often timers (for, silence…) are checked.")
    state_interval: Duration = Field(
        default=30.0,
        gt=0,
        description="How often rule state is saved; after a crash the readings journaled since are replayed.",
    )
    watch: bool = Field(default=True, description="Reload rules and devices when their files change (and on SIGHUP).")
    watch_interval: Duration = Field(default=2.0, gt=0, description="How often the watched files are looked at.")


def _problems(exc: RuleFileError, path: Path) -> list[Problem]:
    """RuleFileError lines ("line N: path: message") as problems naming the rule file."""
    out = []
    for error in exc.errors:
        match = _LINE.match(error)
        if match:
            out.append(Problem(display_path(path), int(match[1]), match[2], match[3]))
        else:
            key, _, message = error.partition(": ")
            out.append(Problem(display_path(path), 1, key, message or error))
    return out


def load_rule_files(section: RulesConfig) -> tuple[RuleSet | None, list[Problem]]:
    """The rule set a `rules` section names, or the problems of its files (every one, with lines)."""
    table: EventTypeTable | None = None
    if section.event_types is not None:
        try:
            table = load_event_types(section.event_types.read_text(encoding="utf-8"), str(section.event_types))
        except RuleFileError as exc:
            return None, _problems(exc, section.event_types)
    try:
        ruleset = load_rules(section.file.read_text(encoding="utf-8"), table, str(section.file))
    except RuleFileError as exc:
        return None, _problems(exc, section.file)
    return ruleset, []
