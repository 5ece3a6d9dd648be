"""The rule file's common pieces: levels, selectors, schedules, flap guard, overrides and the rule base."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.durations import Duration

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_SEVERITIES = ("info", "warning", "major", "critical")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Model(BaseModel):
    """Base of every rule-file model: unknown keys are errors, every field is documented."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Level(Model):
    """One severity level: it sets at or beyond `set` and clears once back past `clear` (hysteresis)."""

    severity: str = Field(description="Severity name, from the rule file's `severities` list.")
    set: float = Field(description="The level is reached when the value is at or beyond this (>= for above).")
    clear: float | None = Field(
        default=None,
        description="The level is left when the value is strictly back past this (< for above); defaults to `set`.",
    )

    @property
    def clear_level(self) -> float:
        """The clear threshold, defaulting to the set threshold (no dead band)."""
        return self.set if self.clear is None else self.clear


class Selector(Model):
    """Which devices a rule applies to; every given criterion must match, lists match any member."""

    kind: list[str] | None = Field(default=None, description="Device kinds (dust, water, fire, camera…).")
    devices: list[str] | None = Field(default=None, description="Device or camera ids.")
    device_class: list[str] | None = Field(default=None, description="Device classes (models).")
    grid: list[str] | None = Field(
        default=None, description="Grid-code prefixes: a district (6), street (9), community (12) or a cell."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags the device must carry with these values.")

    @field_validator("kind", "devices", "device_class", "grid", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        """Accept a single string where a list is expected."""
        return [value] if isinstance(value, str) else value

    @field_validator("grid")
    @classmethod
    def _digits(cls, value: list[str] | None) -> list[str] | None:
        """Grid prefixes are digit strings of at most 15 characters."""
        for prefix in value or []:
            if not prefix.isdigit() or len(prefix) > 15:
                raise ValueError(f"grid prefix {prefix!r} must be 1-15 digits")
        return value


class TimeRange(Model):
    """A daily local-time range, "22:00"-"06:00" crossing midnight allowed, on some weekdays (of its start)."""

    start: str = Field(description="Local start time HH:MM (inclusive).")
    end: str = Field(description="Local end time HH:MM (exclusive); at or before `start` means the next day.")
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(
        default=None, description="Weekdays the range starts on; all days when absent."
    )

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        """Times are HH:MM on a 24-hour clock."""
        if not _HHMM.match(value):
            raise ValueError(f"time {value!r} must be HH:MM (00:00-24:00)")
        return value


class FlapGuard(Model):
    """A subject opening more than `max_opens` incidents within `within` gets one flapping incident instead."""

    max_opens: int = Field(ge=1, description="Openings allowed within the period before the next one is flapping.")
    within: Duration = Field(description="The period; a flapping incident resolves once quiet this long.")


class Tuning(Model):
    """The fields an override may change; absent fields keep the value from the level before."""

    levels: list[Level] | None = Field(default=None, description="Replacement severity levels.")
    for_: Duration | None = Field(default=None, alias="for", description="Replacement hold time before opening.")
    clear_for: Duration | None = Field(default=None, description="Replacement hold time before resolving.")
    cooldown: Duration | None = Field(default=None, description="Replacement cooldown after a resolve.")
    remind_every: Duration | None = Field(default=None, description="Replacement reminder period.")
    schedule: list[TimeRange] | None = Field(default=None, description="Replacement active schedule.")
    quiet_hours: list[TimeRange] | None = Field(default=None, description="Replacement quiet hours.")
    enabled: bool | None = Field(default=None, description="Turn the rule off (or on) for these devices.")


class Overrides(Model):
    """Per-device tuning, applied in order: device class, then grid prefixes (shortest first), then device."""

    device_class: dict[str, Tuning] = Field(default_factory=dict, description="Tuning by device class.")
    grid: dict[str, Tuning] = Field(default_factory=dict, description="Tuning by grid-code prefix.")
    device: dict[str, Tuning] = Field(default_factory=dict, description="Tuning by device id.")


class RuleBase(Model):
    """What every rule has, whatever its kind."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="Stable rule id (part of incident ids).")
    description: str = Field(default="", description="What the rule watches, for operators.")
    event_type: str = Field(description="Event type code in the city's code table (config/event_types.yaml).")
    select: Selector = Field(default_factory=Selector, description="Which devices the rule applies to.")
    levels: list[Level] = Field(default_factory=list, description="Severity levels, mildest first.")
    direction: Literal["above", "below"] = Field(default="above", description="Whether high or low values alarm.")
    for_: Duration = Field(default=0, alias="for", description="How long the condition must hold before opening.")
    clear_for: Duration = Field(default=0, description="How long it must stay clear before the incident resolves.")
    cooldown: Duration = Field(default=0, description="After a resolve, no new incident opens for this long.")
    remind_every: Duration | None = Field(default=None, description="Re-send an open, unacknowledged incident.")
    new_peak: float | None = Field(
        default=None, description="Send an update when the value passes the last reported peak by this much."
    )
    schedule: list[TimeRange] | None = Field(default=None, description="When the rule applies; always if absent.")
    quiet_hours: list[TimeRange] = Field(
        default_factory=list, description="When no incident opens and no reminder goes; openings wait for the end."
    )
    flap: FlapGuard | None = Field(default=None, description="Flap guard; none if absent.")
    skip_maintenance: bool = Field(
        default=True, description="Ignore readings flagged maintenance/calibration (maintenance, data_flag M/C)."
    )
    enabled: bool = Field(default=True, description="A disabled rule evaluates nothing.")
    overrides: Overrides = Field(default_factory=Overrides, description="Per class / grid / device tuning.")

    @model_validator(mode="after")
    def _levels_ordered(self) -> RuleBase:
        """Levels go mildest first, each set beyond the last and each clear no further than its set."""
        check_levels(self.levels, self.direction)
        return self


def check_levels(levels: list[Level], direction: str) -> None:
    """Raise ValueError unless levels are ordered and every clear lies on the safe side of its set."""
    sign = 1.0 if direction == "above" else -1.0
    for i, level in enumerate(levels):
        if sign * level.clear_level > sign * level.set:
            side = "above" if sign < 0 else "below"
            raise ValueError(f"levels[{i}]: clear {level.clear_level} must be at or {side} set {level.set}")
        if i and sign * level.set <= sign * levels[i - 1].set:
            raise ValueError(f"levels[{i}]: set {level.set} must be beyond the previous level's {levels[i - 1].set}")
        if i and sign * level.clear_level < sign * levels[i - 1].clear_level:
            raise ValueError(f"levels[{i}]: clear must not be milder than the previous level's clear")
